"""Use cases: load from the database, analyse with the pure core, store the result.

The API, the web views and the CLI all call these; none of them holds domain logic.
"""
