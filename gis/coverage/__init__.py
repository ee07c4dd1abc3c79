"""Life-circle walking coverage, gaps and facility siting: pure network analysis (no database, HTTP or CLI)."""
