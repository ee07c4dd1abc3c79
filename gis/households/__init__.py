"""Household estimates from building footprints (domain §3), each with its reason.

Households are rarely recorded in OSM-style data. For a building judged to be a home they are
estimated as ``floor(footprint m² × floors × usable_share ÷ mean_dwelling_m2)``, at least one
for a footprint above ``MIN_DWELLING_FOOTPRINT_M2``; every estimate is flagged as one and
carries a reason: a stable code (``REASONS``) and its parameters, which ``describe_reason``
turns into words.

Whether a building is a home
----------------------------
The first rule that applies decides (see ``estimate_households``):

1. a recorded count wins over everything;
2. a facility building (school, clinic: ``non_residential_ids``) is not a home;
3. an underground building (``layer`` or ``level`` below 0, ``location=underground``) is not;
4. a roof, canopy, station or other structure (``STRUCTURE_KINDS``) is not;
5. another non-housing kind (office, school, retail, university ...) is not;
6. a name that says home (宿舍, 公寓, 住宅, 家属院, 小区, 新村, 弄 ...) is; a number alone
   (3号楼, 5栋) says nothing: offices and teaching buildings are numbered the same way;
7. a name that says otherwise (教学楼, 实验, 食堂, 研究所, 大楼, 中心, …厅, …馆, …处 ...) is not;
8. a housing kind (residential, apartments, house, dormitory ...) is;
9. an unspecific building (``building=yes``) with a use tag of its own (amenity, shop, office,
   tourism ...) is not; with ``building:use=residential`` it is;
10. an unspecific building inside a university, college, school, hospital, commercial, retail,
    industrial ... area (``CONTEXT_KINDS``; the smallest area containing it counts, so a
    residential area inside a campus is housing) is not, unless weakly named as a home (…苑,
    …花园, …村);
11. otherwise an unspecific building is a home: in Chinese extracts ``building=yes`` is the
    usual tag of a housing block.

A home whose footprint says it is not flats is then set aside: a single storey over
``large_single_storey_m2`` (a hall, market or works), or an unspecific building of unknown
height over ``large_footprint_m2`` (a mall, a courtyard complex).

Floors: ``levels``, else ``height ÷ storey_height_m``, else (a plain building with a footprint
under ``house_footprint_m2``) the floors of a house, else the median of the buildings of the
same kind (homes among homes) within ``neighbour_radius_m`` whose floors are mapped, else a
default by kind.

Modules: ``rules`` (the decision for one building, the reason codes), ``estimate``
(``estimate_households`` over a frame: floors, households), ``reasons`` (reasons in words, review).
"""

from gis.households.estimate import estimate_households
from gis.households.reasons import describe_reason, review_concerns
from gis.households.rules import (
    CONTEXT_KINDS,
    DEFAULT_FLOORS,
    HOME_CONTEXT_KINDS,
    MIN_DWELLING_FOOTPRINT_M2,
    NON_RESIDENTIAL_NAMES,
    REASONS,
    RESIDENTIAL_KINDS,
    STRUCTURE_KINDS,
    building_use,
    context_kind,
)

__all__ = [
    "CONTEXT_KINDS",
    "DEFAULT_FLOORS",
    "HOME_CONTEXT_KINDS",
    "MIN_DWELLING_FOOTPRINT_M2",
    "NON_RESIDENTIAL_NAMES",
    "REASONS",
    "RESIDENTIAL_KINDS",
    "STRUCTURE_KINDS",
    "building_use",
    "context_kind",
    "describe_reason",
    "estimate_households",
    "review_concerns",
]
