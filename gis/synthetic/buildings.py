"""The synthetic city's buildings: compounds of slab and tower blocks, offices, shops and public buildings.

``layout_cells`` gives every cell its use (a public building's plot, offices, or homes) and a
residential cell the rows of blocks its era builds (six-storey slabs of the 1980s, towers of the
2010s) with the sunlight spacing between rows; ``fill_cells`` builds the residential cells in a
random order until the households add up exactly, and turns the rest into parks and shops;
``add_paths_and_entrances`` adds the lanes between rows and a footway to every entrance.
"""

from __future__ import annotations

import numpy as np

from gis.synthetic.facilities import DEDICATED, FACILITY_SUFFIX, facility_counts
from gis.synthetic.names import Names
from gis.synthetic.plan import (
    ERAS,
    FOOTWAY,
    SERVICE,
    SETBACK,
    STREET_SIDES,
    WALL,
    Buildings,
    Cell,
    CellLayout,
    CityPlan,
    Lines,
)

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in metres."""

_SLAB_DEPTH = {6: 12.0, 11: 13.0, 18: 15.0}
_SLAB_GAP = {6: 20.0, 11: 30.0, 18: 42.0}  # sunlight spacing between rows
_UNIT_W = 15.0  # one stair unit: two flats per floor
_TOWER = (26.0, 22.0)  # footprint; four flats per floor
_TOWER_GAP = {18: (24.0, 36.0), 26: (26.0, 50.0)}
_ENTRANCE_GAP_M = 1.0  # entrance footways end this far from the wall

# --- cell layouts -----------------------------------------------------------------------------


def _rows(extent: float, depth: float, gap: float) -> tuple[int, float]:
    """How many rows of ``depth`` with ``gap`` between fit in ``extent``, and the start offset."""
    n = int((extent + gap) // (depth + gap))
    used = n * depth + max(n - 1, 0) * gap
    return n, (extent - used) / 2


def _layout_slabs(rng: np.random.Generator, inner: Box, levels: int) -> CellLayout:
    x0, y0, x1, y1 = inner
    depth, gap = _SLAB_DEPTH[levels], _SLAB_GAP[levels]
    w = x1 - x0
    n_rows, off = _rows(y1 - y0, depth, gap)
    boxes: list[Box] = []
    hh: list[int] = []
    paths: list[tuple[float, int]] = []
    if n_rows < 1 or w < 2 * _UNIT_W:
        return CellLayout(boxes, "residential", levels, hh, paths)
    for r in range(n_rows):
        yb = y0 + off + r * (depth + gap)
        row: list[tuple[float, int]] = []
        pos = 0.0
        while True:
            units = int(rng.integers(2, 6))
            if pos + units * _UNIT_W > w:
                units = 2
                if pos + units * _UNIT_W > w:
                    break
            row.append((pos, units))
            pos += units * _UNIT_W + float(rng.uniform(10.0, 14.0))
        end = row[-1][0] + row[-1][1] * _UNIT_W
        shift = x0 + (w - end) / 2
        for p, units in row:
            boxes.append((shift + p, yb, shift + p + units * _UNIT_W, yb + depth))
            hh.append(units * 2 * levels)
        if r < n_rows - 1:  # a lane between every two rows (宅间路)
            paths.append((yb + depth + gap / 2, SERVICE if rng.random() < 0.6 else FOOTWAY))
    kind = "residential" if levels < 18 else "apartments"
    return CellLayout(boxes, kind, levels, hh, paths)


def _layout_towers(rng: np.random.Generator, inner: Box, levels: int) -> CellLayout:
    x0, y0, x1, y1 = inner
    sx, sy = _TOWER
    gx, gy = _TOWER_GAP[levels]
    n_cols, offx = _rows(x1 - x0, sx, gx)
    n_rows, offy = _rows(y1 - y0, sy, gy)
    boxes: list[Box] = []
    hh: list[int] = []
    paths: list[tuple[float, int]] = []
    for r in range(n_rows):
        yb = y0 + offy + r * (sy + gy)
        for c in range(n_cols):
            xb = x0 + offx + c * (sx + gx)
            boxes.append((xb, yb, xb + sx, yb + sy))
            hh.append(4 * levels)
        if r < n_rows - 1:
            paths.append((yb + sy + gy / 2, SERVICE if rng.random() < 0.6 else FOOTWAY))
    return CellLayout(boxes, "apartments", levels, hh, paths)


def centred_box(inner: Box, size: tuple[float, float], margin: float = 2.0) -> Box | None:
    """A box of ``size`` (shrunk to fit ``margin`` inside ``inner``) in the middle of ``inner``; None if too small."""
    x0, y0, x1, y1 = inner
    w = min(size[0], x1 - x0 - 2 * margin)
    h = min(size[1], y1 - y0 - 2 * margin)
    if w < 8 or h < 8:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _residential_layout(rng: np.random.Generator, cell: Cell, era: str) -> CellLayout:
    options = ERAS[era][1]
    p = np.array([o[2] for o in options])
    kind, levels, _ = options[int(rng.choice(len(options), p=p / p.sum()))]
    inner = cell.inner(SETBACK)
    if kind == "tower":
        layout = _layout_towers(rng, inner, levels)
        if layout.boxes:
            return layout
        levels = 18  # too small a plot for towers: slabs instead
    return _layout_slabs(rng, inner, levels)


def add_paths_and_entrances(
    lines: Lines, cells: list[Cell], built: dict[int, CellLayout], bld: Buildings
) -> None:
    """Lanes between building rows, and a footway from every building to the lane or street beside it.

    A building's entrance footway runs from its south wall to the nearest lane or street
    to the south, or north when the plot ends at a river or railway on that side.
    """
    lane_ys: dict[int, list[float]] = {}
    for ci, layout in built.items():
        cell = cells[ci]
        for y, hw in layout.paths:
            lines.horizontal(y, cell.x0, cell.x1, lines.new_line(hw, None))
        lane_ys[ci] = [y for y, _ in layout.paths]
    entrance = lines.new_line(FOOTWAY, None)
    for k in range(len(bld)):
        cell = cells[bld.cell[k]]
        x = (bld.x0[k] + bld.x1[k]) / 2
        ys = lane_ys.get(bld.cell[k], [])
        south = [y for y in ys if y < bld.y0[k]] + ([cell.y0] if cell.sides[1] in STREET_SIDES else [])
        north = [y for y in ys if y > bld.y1[k]] + ([cell.y1] if cell.sides[3] in STREET_SIDES else [])
        if south:
            lines.vertical(x, max(south), bld.y0[k] - _ENTRANCE_GAP_M, entrance)
        elif north:
            lines.vertical(x, bld.y1[k] + _ENTRANCE_GAP_M, min(north), entrance)


# --- uses and filling -------------------------------------------------------------------------


def layout_cells(
    rng: np.random.Generator, plan: CityPlan, cells: list[Cell], households: int
) -> tuple[dict[int, CellLayout], list[int], int]:
    """Give cells their use and residential cells a layout; returns layouts, fill order and capacity."""
    kinds, eras = plan.kinds, plan.eras
    counts = facility_counts(households)
    # Cells for facilities with a building of their own: residential superblocks, roomy plots.
    candidates = []
    for ci, c in enumerate(cells):
        if kinds[c.superblock] != "residential":
            continue
        x0, y0, x1, y1 = c.inner(SETBACK)
        if x1 - x0 >= 60 and y1 - y0 >= 40:
            candidates.append(ci)
    dedicated = [code for code in DEDICATED if code in counts for _ in range(counts[code])]
    room = len(candidates) // 3
    if len(dedicated) > room:
        # A tiny city cannot give every public building a plot: one of each type first.
        firsts = list(dict.fromkeys(dedicated))
        extra = list(dedicated)
        for code in firsts:
            extra.remove(code)
        dedicated = (firsts + extra)[:room]
    chosen = rng.choice(len(candidates), size=len(dedicated), replace=False)
    for code, k in zip(dedicated, chosen, strict=True):
        cells[candidates[int(k)]].use = f"facility:{code}"

    layouts: dict[int, CellLayout] = {}
    order: list[int] = []
    for ci, c in enumerate(cells):
        if c.use:
            continue
        if kinds[c.superblock] == "business":
            c.use = "business"
            continue
        layout = _residential_layout(rng, c, eras[c.superblock])
        if layout.boxes:
            layouts[ci] = layout
            order.append(ci)
    perm = rng.permutation(len(order))
    order = [order[i] for i in perm]
    return layouts, order, int(sum(sum(layouts[ci].households) for ci in order))


def fill_cells(
    rng: np.random.Generator,
    cells: list[Cell],
    layouts: dict[int, CellLayout],
    order: list[int],
    households: int,
    names: Names,
) -> tuple[Buildings, dict[int, CellLayout], list[tuple[Box, str]]]:
    """Build the residential cells in ``order`` until exactly ``households``; the rest become parks and shops.

    Returns the buildings, the layouts of the cells built, and the compounds (wall box, name).
    """
    caps = np.array([sum(layouts[ci].households) for ci in order], dtype=np.int64)
    cum = np.cumsum(caps)
    last = int(np.searchsorted(cum, households))  # first cell where the running total reaches the target
    built = order[: last + 1]
    _trim(layouts[built[-1]], households - (int(cum[last - 1]) if last > 0 else 0))

    bld = Buildings()
    compounds: list[tuple[Box, str]] = []
    built_layouts: dict[int, CellLayout] = {}
    for ci in built:
        c, lay = cells[ci], layouts[ci]
        c.use = "residential"
        cname = names.compound()
        compounds.append((c.inner(WALL), cname))
        built_layouts[ci] = lay
        for k, (box, n) in enumerate(zip(lay.boxes, lay.households, strict=True), start=1):
            bld.add(box, lay.kind, lay.levels, int(n), ci, 3.0, f"{cname}{k}栋")
    _build_the_rest(rng, cells, set(order[last + 1 :]), bld, names)
    return bld, built_layouts, compounds


def _trim(lay: CellLayout, remaining: int) -> None:
    """Trim the last cell built: its first buildings take the ``remaining`` households."""
    hh = lay.households
    take, total = 0, 0
    while total < remaining:
        total += hh[take]
        take += 1
    excess = total - remaining
    new = list(hh[:take])
    # Spread the excess over the taken buildings, in proportion, never below one household.
    cuts = [min(new[i] - 1, int(excess * new[i] / total)) for i in range(take)]
    left = excess - sum(cuts)
    i = 0
    while left > 0:
        if new[i] - cuts[i] > 1:
            cuts[i] += 1
            left -= 1
        i = (i + 1) % take
    lay.boxes = lay.boxes[:take]
    lay.households = [n - c for n, c in zip(new, cuts, strict=True)]
    lay.paths = [
        p for p in lay.paths if any(b[1] > p[0] for b in lay.boxes) and any(b[3] < p[0] for b in lay.boxes)
    ]


def _build_the_rest(rng: np.random.Generator, cells: list[Cell], unbuilt: set[int], bld: Buildings,
                    names: Names) -> None:
    """Cells left over become parks or low-rise shops; business superblocks get offices; plots get their building."""
    for ci, c in enumerate(cells):
        inner = c.inner(SETBACK)
        if ci in unbuilt:
            u = rng.random()
            if u < 0.45:
                c.use = "park"
                continue
            c.use = "shops"
            if u < 0.8:
                box = centred_box(inner, (float(rng.uniform(30, 60)), float(rng.uniform(20, 35))))
                if box is not None:
                    bld.add(box, "retail", int(rng.integers(2, 5)), 0, ci, 4.5, f"{names.root()}商业楼")
            else:
                box = centred_box(inner, (30.0, 24.0), margin=6.0)
                if box is not None:
                    bld.add(box, "office", int(rng.integers(8, 24)), 0, ci, 3.8, f"{names.root()}大厦")
        elif c.use == "business":
            _business(rng, ci, inner, bld, names)
        elif c.use.startswith("facility:"):
            code = c.use.split(":", 1)[1]
            kind, levels, size = DEDICATED[code]
            box = centred_box(inner, size)
            if box is not None:
                bld.add(box, kind, levels, 0, ci, 3.8, f"{names.root()}{FACILITY_SUFFIX[code]}")


def _business(rng: np.random.Generator, ci: int, inner: Box, bld: Buildings, names: Names) -> None:
    """One or two office towers, or a shopping centre, on a business cell."""
    if rng.random() < 0.55:
        w = inner[2] - inner[0]
        n_t = max(1, min(2, int((w + 30) // 62)))
        step = w / n_t
        for t in range(n_t):
            sub = (inner[0] + t * step, inner[1], inner[0] + (t + 1) * step, inner[3])
            box = centred_box(sub, (32.0, 28.0), margin=8.0)
            if box is not None:
                bld.add(box, "office", int(rng.integers(12, 36)), 0, ci, 3.8, f"{names.root()}大厦")
    else:
        box = centred_box(inner, (float(rng.uniform(50, 90)), float(rng.uniform(35, 60))))
        if box is not None:
            kind = "commercial" if rng.random() < 0.6 else "retail"
            bld.add(box, kind, int(rng.integers(3, 7)), 0, ci, 4.5, f"{names.root()}广场")
