"""The community ledgers' rules (三张清单: needs, resources, projects; 双报到; volunteers), pure.

What a need, a resource and a project may be, how their statuses move, how a needs file is read
and checked, and how far a need lies from each resource on foot. No database here: the service
(:mod:`gis.services.ledgers`) loads rows, asks these functions, and stores what they answer.

Walking distances reuse the coverage engine's attached walk network (:mod:`gis.coverage.network`):
resources enter it as sources exactly as facilities do, needs are located on it as points, and
one bounded Dijkstra per batch of resources labels the nodes; a need reads its distance off the
nodes its point joins (plus the metres to them). Hand-written only for this last step, which the
engine does for building footprints and not for arbitrary points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gis.errors import Conflict, InvalidInput
from gis.io.registers import Column, Problems, Table, map_columns

if TYPE_CHECKING:  # numpy, scipy and the network are imported where distances are measured: the ORM
    import numpy as np  # models import the codes above, and the CLI must start fast

    from gis.coverage.network import AttachedNetwork

# --- codes -------------------------------------------------------------------------------------

NEED_SOURCES = ("visit", "staff", "public_form", "open311", "import")
NEED_STATUSES = ("open", "matched", "in_progress", "closed", "rejected")
OUTCOMES = ("met", "partly_met", "unmet")
PROJECT_STATUSES = ("planned", "active", "done", "cancelled")
PROVIDER_KINDS = ("unit", "facility", "party_member", "volunteer", "other")
CLAIMANT_KINDS = ("unit", "party_member")

# The catalogue every community starts with (domain §4's needs-based planning and the seeds); a
# community adds its own kinds beside these.
DEFAULT_KINDS: dict[str, tuple[str, str]] = {
    "elderly_meals": ("老年助餐", "Meals for elderly people"),
    "after_school_care": ("课后托管（四点半课堂）", "After-school childcare"),
    "parking": ("停车", "Parking"),
    "ev_charging": ("电动车充电", "EV charging"),
    "accessibility": ("无障碍设施", "Accessibility"),
    "home_care": ("居家养老服务", "Home care for elderly people"),
    "medical_help": ("就医帮扶", "Help with medical visits"),
    "venue": ("活动场地", "A venue for activities"),
    "employment": ("就业帮扶", "Help finding work"),
    "other": ("其他", "Other"),
}

# A need's actions: from which statuses each may be taken, and where it leads.
NEED_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "match": (("open", "matched"), "matched"),        # a project is created for it
    "start": (("matched", "in_progress"), "in_progress"),  # its project starts
    "close": (("open", "matched", "in_progress"), "closed"),
    "reject": (("open",), "rejected"),
    "reopen": (("closed", "rejected"), "open"),
}
PROJECT_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("planned",), "active"),
    "finish": (("active",), "done"),
    "cancel": (("planned", "active"), "cancelled"),
}
DEFAULT_WALK_RADIUS_M = 500.0  # the 10-minute life circle (domain §3)
MAX_HOURS_PER_SHIFT = 24.0


def need_transition(status: str, action: str) -> str:
    """The status a need in ``status`` moves to by ``action``; Conflict when the action does not apply."""
    if action not in NEED_TRANSITIONS:
        raise InvalidInput(f"需求操作须为 {'、'.join(NEED_TRANSITIONS)} 之一 · action: one of "
                           f"{', '.join(NEED_TRANSITIONS)}, got {action!r}", details={"field": "action"})
    allowed, target = NEED_TRANSITIONS[action]
    if status not in allowed:
        raise Conflict(f"需求状态为 {status}，不能执行 {action} · a need in status {status} cannot be {action}ed "
                       f"(allowed from {', '.join(allowed)})",
                       details={"status": status, "action": action, "allowed_from": list(allowed)})
    return target


def project_transition(status: str, action: str) -> str:
    """The status a project in ``status`` moves to by ``action``; Conflict when the action does not apply."""
    if action not in PROJECT_TRANSITIONS:
        raise InvalidInput(f"项目操作须为 {'、'.join(PROJECT_TRANSITIONS)} 之一 · action: one of "
                           f"{', '.join(PROJECT_TRANSITIONS)}, got {action!r}", details={"field": "action"})
    allowed, target = PROJECT_TRANSITIONS[action]
    if status not in allowed:
        raise Conflict(f"项目状态为 {status}，不能执行 {action} · a project in status {status} cannot take "
                       f"{action} (allowed from {', '.join(allowed)})",
                       details={"status": status, "action": action, "allowed_from": list(allowed)})
    return target


def check_kind_code(code: str) -> str:
    """A new need kind's code: lower-case letters, digits and underscores, 2–40 characters."""
    code = (code or "").strip()
    if not (2 <= len(code) <= 40) or not all(c.islower() or c.isdigit() or c == "_" for c in code) \
            or not code[0].isalpha():
        raise InvalidInput(f"需求类型代码须为2–40位小写字母、数字或下划线 · code: 2–40 lower-case letters, digits or "
                           f"underscores starting with a letter, got {code!r}", details={"field": "code"})
    return code


def check_hours(hours: float) -> float:
    """Hours of one shift: more than 0, at most a day."""
    if not (0 < hours <= MAX_HOURS_PER_SHIFT):
        raise InvalidInput(f"服务时长须大于0且不超过{MAX_HOURS_PER_SHIFT:g}小时 · hours: more than 0 and at most "
                           f"{MAX_HOURS_PER_SHIFT:g} per shift, got {hours:g}", details={"field": "hours"})
    return float(hours)


# --- needs files -------------------------------------------------------------------------------

NEED_COLUMNS = (
    Column("kind", ("需求类型", "类型", "kind_code"), required=True),
    Column("title", ("需求", "标题", "名称", "name")),
    Column("description", ("描述", "说明", "详情")),
    Column("household_id", ("户ID", "户id", "household")),
    Column("building_id", ("楼栋ID", "楼栋id", "building")),
    Column("lon", ("经度", "longitude", "x")),
    Column("lat", ("纬度", "latitude", "y")),
    Column("address", ("地址",)),
    Column("affected_households", ("涉及户数", "户数", "households")),
    Column("affected_people", ("涉及人数", "人数", "people")),
)


def _whole(raw: Any, number: int, column: str, problems: Problems) -> int | None:
    if raw is None:
        return None
    try:
        value = float(str(raw).replace(",", ""))
    except ValueError:
        value = -1.0
    if value < 0 or not value.is_integer():
        problems.add(number, column, "a whole number, 0 or more", raw)
        return None
    return int(value)


def parse_needs(table: Table, *, kinds: Iterable[str]) -> list[dict[str, Any]]:
    """Checked needs from a register table: kind, where (household, building or lon/lat), counts.

    Every problem names the file, the row (the header is row 1) and the column; a file with any
    problem is refused whole (InvalidInput listing them), so an import stores all rows or none.
    """
    known = set(kinds)
    columns, _unused = map_columns(table, NEED_COLUMNS, required_one_of=(("household_id", "building_id", "lon"),))
    problems = Problems(table.file)
    records = []
    for number, cells in table.rows:
        def get(name: str, cells: Mapping[str, Any] = cells) -> Any:
            return cells.get(columns[name]) if name in columns else None

        before = len(problems)
        kind = get("kind")
        kind = None if kind is None else str(kind).strip()
        if kind not in known:
            problems.add(number, columns["kind"], f"a need kind code ({', '.join(sorted(known))})", kind)
        household = _whole(get("household_id"), number, columns.get("household_id", "household_id"), problems)
        building = _whole(get("building_id"), number, columns.get("building_id", "building_id"), problems)
        lon = lat = None
        if get("lon") is not None or get("lat") is not None:
            try:
                lon, lat = float(get("lon")), float(get("lat"))
                if not (73 <= lon <= 136 and 3 <= lat <= 54):
                    raise ValueError
            except (TypeError, ValueError):
                problems.add(number, columns.get("lon", "lon"), "lon and lat in degrees within China (73–136, 3–54)",
                             f"{get('lon')}, {get('lat')}")
                lon = lat = None
        if household is None and building is None and lon is None and len(problems) == before:
            problems.add(number, columns.get("household_id") or columns.get("building_id") or columns.get("lon"),
                         "a household id, a building id or lon/lat: where the need is")
        households = _whole(get("affected_households"), number,
                            columns.get("affected_households", "affected_households"), problems)
        people = _whole(get("affected_people"), number, columns.get("affected_people", "affected_people"), problems)
        if len(problems) > before:
            continue
        title = get("title")
        records.append({
            "row": number, "kind_code": kind, "title": None if title is None else str(title).strip()[:200],
            "description": None if get("description") is None else str(get("description")),
            "household_id": household, "building_id": building, "lon": lon, "lat": lat,
            "address": None if get("address") is None else str(get("address")),
            "affected_households": households if households is not None else 1,
            "affected_people": people if people is not None else 1,
        })
    problems.raise_if_any()
    return records


# --- walking distances -------------------------------------------------------------------------

_BATCH_CELLS = 4_000_000


@dataclass
class Walk:
    """Need × resource pairs within a limit: indices into the given points, and metres."""

    n_needs: int
    n_resources: int
    limit_m: float
    mode: str  # "network" or "straight_line"
    need: np.ndarray
    resource: np.ndarray
    distance: np.ndarray

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Per need: the nearest resource (-1: none within the limit) and its distance (inf: none)."""
        import numpy as np

        best_r = np.full(self.n_needs, -1, dtype=np.int64)
        best_d = np.full(self.n_needs, np.inf)
        if len(self.need):
            order = np.lexsort((self.resource, self.distance, self.need))
            n = self.need[order]
            first = np.r_[True, n[1:] != n[:-1]]
            best_r[n[first]] = self.resource[order][first]
            best_d[n[first]] = self.distance[order][first]
        return best_r, best_d


def walking_pairs(graph: AttachedNetwork, need_points: Any, resource_points: Any, *, limit_m: float) -> Walk:
    """Walking distance from every resource to every need within ``limit_m`` (metric points in, metres out).

    Resources are sources as facilities are in coverage (one extra graph node each, leading out);
    a need's distance is the cheapest of its entry nodes plus the metres from its point to them.
    Two points on the same street segment also get the direct way along it.
    """
    import numpy as np
    from scipy.sparse.csgraph import dijkstra

    from gis.coverage.network import locate_sites

    needs = np.asarray(need_points, dtype=object)
    resources = np.asarray(resource_points, dtype=object)
    empty_i, empty_f = np.empty(0, np.int64), np.empty(0)
    if len(needs) == 0 or len(resources) == 0:
        return Walk(len(needs), len(resources), limit_m, "network", empty_i, empty_i, empty_f)
    res_sites = locate_sites(graph, resources)
    need_sites = locate_sites(graph, needs)
    n = graph.n_nodes
    g = graph.with_sources(res_sites)
    order = np.argsort(need_sites.seed_site, kind="stable")
    seed_site, seed_node, seed_cost = (need_sites.seed_site[order], need_sites.seed_node[order],
                                       need_sites.seed_cost[order])
    parts_n, parts_r, parts_d = [], [], []
    batch = max(1, _BATCH_CELLS // (n + res_sites.n))
    for start in range(0, res_sites.n, batch):
        idx = np.arange(start, min(start + batch, res_sites.n))
        dist = dijkstra(g, directed=True, indices=n + idx, limit=limit_m)[:, :n]
        best = np.full((len(idx), len(needs)), np.inf)
        if len(seed_site):
            value = dist[:, seed_node] + seed_cost
            np.minimum.at(best.T, seed_site, value.T)
        r, k = np.nonzero(best <= limit_m)
        parts_r.append(idx[r])
        parts_n.append(k)
        parts_d.append(best[r, k])
    need_idx = np.concatenate(parts_n)
    res_idx = np.concatenate(parts_r)
    dist = np.concatenate(parts_d)
    # Along one segment: the way between two points on it need not pass either end node.
    nl, rl, net = need_sites.links, res_sites.links, graph.network
    # (a main road's two sides are separate ways: only points on the same side count)
    same = np.nonzero((nl.edge[:, None] == rl.edge[None, :]) & (nl.side[:, None] == rl.side[None, :]))
    if len(same[0]):
        k, r = same
        direct = (np.abs(nl.pos[k] - rl.pos[r]) * np.abs(net.edge_cost[nl.edge[k]]) + nl.length[k] + rl.length[r])
        keep = direct <= limit_m
        need_idx = np.concatenate([need_idx, k[keep]])
        res_idx = np.concatenate([res_idx, r[keep]])
        dist = np.concatenate([dist, direct[keep]])
    return _dedupe(Walk(len(needs), len(resources), limit_m, "network", need_idx.astype(np.int64),
                        res_idx.astype(np.int64), dist))


def straight_line_pairs(need_points: Any, resource_points: Any, *, limit_m: float) -> Walk:
    """As the crow flies, for districts without a walk network (labelled straight_line: it overstates reach)."""
    import numpy as np
    import shapely

    needs = np.asarray(need_points, dtype=object)
    resources = np.asarray(resource_points, dtype=object)
    if len(needs) == 0 or len(resources) == 0:
        e = np.empty(0, np.int64)
        return Walk(len(needs), len(resources), limit_m, "straight_line", e, e, np.empty(0))
    tree = shapely.STRtree(resources)
    k, r = tree.query(needs, predicate="dwithin", distance=limit_m)
    return Walk(len(needs), len(resources), limit_m, "straight_line", k.astype(np.int64), r.astype(np.int64),
                shapely.distance(needs[k], resources[r]))


def _dedupe(walk: Walk) -> Walk:
    import numpy as np

    if not len(walk.need):
        return walk
    order = np.lexsort((walk.distance, walk.resource, walk.need))
    k, r, d = walk.need[order], walk.resource[order], walk.distance[order]
    first = np.r_[True, (k[1:] != k[:-1]) | (r[1:] != r[:-1])]
    return Walk(walk.n_needs, walk.n_resources, walk.limit_m, walk.mode, k[first], r[first], d[first])


def serves(resource_kinds: Iterable[str], need_kind: str) -> bool:
    """Whether a resource offering ``resource_kinds`` serves a need of ``need_kind`` (no kinds: any need)."""
    kinds = set(resource_kinds or ())
    return not kinds or need_kind in kinds
