"""Alembic migrations of the Wangge schema (reviewed code: see each revision's docstring)."""
