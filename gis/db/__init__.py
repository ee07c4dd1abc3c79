"""Persistence: the only place where rows become shapely geometries and GeoDataFrames."""
