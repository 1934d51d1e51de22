"""Persistence: tables, the database handle, migrations and queries."""
