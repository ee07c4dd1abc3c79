"""Reading and writing files: boundary files of streets, communities and grids (``gis.io.boundaries``).

Readers return frames in the storage CRS (EPSG:4490) and raise ``gis.errors`` classes with
one-line messages naming the file, the row and the problem; no GDAL error escapes.
"""
