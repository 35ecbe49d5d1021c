"""The built-in paper venue: Postgres books (``books``) under the pure fill model (``domain.paper``)."""
