"""Synthetic districts and residents: a made-up Chinese city for benchmarks, tests and demos.

``generate_district`` builds a city the size of a requested household count: a street
grid of main roads (every 500–800 m) around superblocks, minor roads and footways
(every 100–200 m, irregular, some segments missing) inside them, compounds (小区) of
slab and tower blocks with lanes between the rows and a footway to every entrance,
schools and other public buildings, a river and (from two superblock columns) a railway
that only main roads cross, and catalogue facilities placed so that coverage is partial.
``generate_residents`` fills buildings with households and people whose ages, household
sizes and tags follow a Chinese urban population (2020-census-like).

Everything is deterministic for a given seed, and everything is fake: the district's
``report`` says ``synthetic: True`` and both resident frames carry a ``synthetic`` column.
Building household counts are "recorded" (``households_estimated`` False) because the
generator knows them exactly; they are made up all the same.

The city is laid out in a local metric frame (x east, y north, metres from the
south-west corner) on the CGCS2000 3-degree Gauss-Krüger zone of ``origin``, then
converted to EPSG:4490; ``length_m`` is measured in that frame (scale error < 0.05%).

Modules, in the order ``generate_district`` uses them: ``plan`` (superblocks, river, railway,
and the records the steps share), ``names``, ``streets`` (streets, cells, the network),
``buildings`` (cell uses, compounds, shops, entrances), ``facilities``, ``district`` (the steps
put together, the frames); ``residents`` fills the buildings with people.
"""

from gis.synthetic.district import generate_district
from gis.synthetic.facilities import HOUSEHOLDS_PER_FACILITY
from gis.synthetic.residents import DEFAULT_AS_OF, generate_residents, id_number_check_digit, is_valid_id_number

__all__ = [
    "DEFAULT_AS_OF",
    "HOUSEHOLDS_PER_FACILITY",
    "generate_district",
    "generate_residents",
    "id_number_check_digit",
    "is_valid_id_number",
]
