"""The pure core: skills, sizing, routing and decision rules over contract models. No I/O, no clock."""
