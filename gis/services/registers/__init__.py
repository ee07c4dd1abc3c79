"""Registers in (一标三实): standard addresses, population registers, facilities and units, into the database.

Each import reads and checks the whole file first (gis.io.registers), then writes in the caller's
transaction: any bad row refuses the file and nothing is written. Re-importing the same file changes
nothing: rows are matched on a stable key (normalised address, ID lookup hash, 户编号, credit code) and
written only when a value differs. ID numbers are stored sealed (gis.services.privacy.seal_id_number).

- :mod:`.addresses`: standard addresses, and what every import shares (district, source CRS, placing points);
- :mod:`.residents`: population registers; :mod:`.facilities`: facilities and units;
- :mod:`.quality`: data quality per grid and community.
"""

from __future__ import annotations

from gis.services.registers.addresses import SOURCE_CRS, AddressBook, import_addresses
from gis.services.registers.facilities import import_facilities, import_units
from gis.services.registers.quality import data_quality
from gis.services.registers.residents import import_residents

__all__ = ["SOURCE_CRS", "AddressBook", "data_quality", "import_addresses", "import_facilities", "import_residents",
           "import_units"]
