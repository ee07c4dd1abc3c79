"""Wangge: geospatial grid management for urban community governance."""

__version__ = "0.1.0"
