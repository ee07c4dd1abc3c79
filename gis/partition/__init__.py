"""Grid splits and community redraws: pure graph partitioning of building cells (no database, HTTP or CLI)."""
