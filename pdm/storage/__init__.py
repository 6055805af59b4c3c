"""Storage: tables, engine and sessions, migrations, and the readings hot path."""
