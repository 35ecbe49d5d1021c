"""market-data's edges: Postgres tables and statements, Alpaca's stream and historical API, files."""
