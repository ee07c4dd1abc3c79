"""Route modules, one per resource family; ``ROUTERS`` is what the app mounts."""

from api.routes import (
                        auth,
                        boundaries,
                        buildings,
                        cases,
                        coverage,
                        edits,
                        health,
                        jobs,
                        levels,
                        open311,
                        party,
                        patrols,
                        people,
                        plans,
                        tiles,
                        users,
)

# Order matters where paths overlap: fixed paths (/grids/merge, /residents/export) before {params}.
ROUTERS = [health.router, auth.router, users.router, edits.router, buildings.router, boundaries.router,
           plans.router, coverage.router, jobs.router, people.router, patrols.router,
           cases.router, open311.router, tiles.router, party.router, levels.router]

from api.routes import maps  # noqa: E402  map search and unit cards (issue 17)

ROUTERS.append(maps.router)

from api.routes import dashboard  # noqa: E402  the district dashboard's case counts (issue 17)

ROUTERS.append(dashboard.router)

from api.routes import ledgers  # noqa: E402  community ledgers, 双报到 and volunteers (issue 22)

ROUTERS.append(ledgers.router)

from api.routes import departments  # noqa: E402  departments the case loop hands over to and summons (issue 18)

ROUTERS.append(departments.router)

from api.routes import visits  # noqa: E402  household visits and staffing (issue 18)

ROUTERS.insert(0, visits.router)  # first: GET /grids/unstaffed before boundaries' /grids/{code}
