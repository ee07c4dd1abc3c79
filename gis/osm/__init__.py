"""Read an OpenStreetMap extract (XML or PBF) into ``DistrictLayers``.

One pass of pyosmium collects what the layers need; the geometries are then built in
bulk with shapely. The rules, in short:

- **buildings**: closed ways and multipolygon relations with ``building=*`` (not ``no``).
  ``kind`` is the building value as mapped (``yes`` stays ``yes``); ``levels`` and
  ``height`` are parsed from ``building:levels`` and ``height`` (NA when missing or not a
  number); ``households`` and ``households_estimated`` stay NA (see
  ``gis.households.estimate_households``).
- **walk network**: ways a pedestrian may use (see ``is_walkable``), split at every node
  shared by two ways (or twice by one) and at way ends. ``node_id`` is the OSM node id;
  ``length_m`` is geodesic (GRS80 ellipsoid, the CGCS2000 one).
- **barriers**: rivers, canals, streams, ditches and drains (``waterway``, lines; not in a
  culvert or tunnel), water (``water``: natural=water, waterway=riverbank and
  landuse=reservoir areas, and the coastline as a line) and railways (``railway``: rail,
  light_rail, subway, narrow_gauge, monorail; not in a tunnel or underground, and not
  trams, which run in the street and are crossed on foot).
- **compounds**: ``landuse=residential`` areas with a name (小区).
- **facilities**: every node, way or relation that ``gis.catalogue.classify_facility``
  recognises, buildings included (many Chinese POIs are only a named building polygon),
  as a point: the node itself, a point inside a polygon, the middle of a line. One facility
  mapped twice is kept once (``gis.catalogue.find_duplicates``): a node inside a polygon of
  the same type with the same or no name, or two features of the same type within
  ``DUPLICATE_DISTANCE_M`` with similar names (one containing the other, no campus
  qualifier). The polygon (the larger one) is kept, and takes the node's name when it has none.

Ids: ``osm_id`` is the OSM id of a node or way and **minus** the id of a relation (a
multipolygon building, water area, compound or facility). Facilities mix nodes and ways,
whose id spaces are separate in OSM; a collision is possible in principle.

Geometry problems are repaired where possible and always counted in ``report``:
``invalid_repaired`` / ``invalid_skipped`` (rings that are not valid polygons, fixed with
``shapely.make_valid`` keeping polygonal parts of at least ``MIN_PART_M2``),
``unclosed_skipped`` (area ways whose ring does not close), ``incomplete_rings`` (areas
built although some of their nodes or member ways are missing from the extract: a ring
clipped at the edge of the extract is built from the nodes present, a multipolygon with
missing members from the members present), ``incomplete_skipped`` (too little left to build
a polygon), ``rebuilt_relations`` (multipolygons libosmium could not assemble, rebuilt
from their member ways) and ``ways_clipped`` (walkable ways with missing nodes, split into
the runs present). ``problems`` lists the first ``MAX_PROBLEMS`` cases in words
(``problems_not_listed`` counts the rest).

OSM is WGS84; the frames are labelled EPSG:4490 (centimetres apart, domain §7).

Modules, in the order ``read_osm`` uses them: ``tags`` (the tag rules), ``collect`` (the one pass
over the file), ``geometry`` (polygons, lines, the walk network), ``layers`` (the frames),
``reader`` (the entry point).
"""

from gis.osm.reader import read_osm
from gis.osm.tags import (
    BUILDING_OSM_EXTRAS,
    MIN_PART_M2,
    RAILWAY_KINDS,
    WALK_HIGHWAYS,
    WATERWAY_LINES,
    is_walkable,
    parse_height,
    parse_levels,
)

__all__ = [
    "BUILDING_OSM_EXTRAS",
    "MIN_PART_M2",
    "RAILWAY_KINDS",
    "WALK_HIGHWAYS",
    "WATERWAY_LINES",
    "is_walkable",
    "parse_height",
    "parse_levels",
    "read_osm",
]
