"""Where per-district tasks run: the names :mod:`gis.services.scale` and the CLI share.

No imports, so that ``wangge`` can rewrite a bare ``--dask`` before it loads Dask or any service.
"""

from __future__ import annotations

# ``scheduler="local"``: a distributed.LocalCluster on this machine, started for the call.
LOCAL_CLUSTER = "local"
