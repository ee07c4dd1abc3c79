"""Route modules, one per resource family; ``ROUTERS`` is what the app mounts."""

from api.routes import auth, boundaries, cases, coverage, edits, health, jobs, people, plans, tiles, users

# Order matters where paths overlap: fixed paths (/grids/merge, /residents/export) before {params}.
ROUTERS = [health.router, auth.router, users.router, edits.router, boundaries.router, plans.router,
           coverage.router, jobs.router, people.router, cases.router, tiles.router]
