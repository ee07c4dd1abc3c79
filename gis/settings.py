"""Settings: one pydantic-settings class, built at start-up and passed down.

Nothing in Wangge reads the environment at import time; call ``Settings()`` at the edge.
Every threshold the domain calls configurable lives here (env prefix ``WANGGE_``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "wangge-demo-secret-do-not-use-in-production-0000"
# Public like DEMO_SECRET: encrypts the demo's synthetic ID numbers only; refused outside demo mode.
DEMO_ID_KEY = "d2FuZ2dlLWRlbW8taWQta2V5LW5vdC1mb3ItcmVhbC0="


class Settings(BaseSettings):
    """Runtime configuration, from ``WANGGE_*`` environment variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    # Database. With no URL, the embedded project-local cluster under ``home`` is used.
    database_url: str | None = None
    test_database_url: str | None = None
    home: Path = Field(default=Path(".wangge"), description="project-local state: cluster, logs, uploads")
    pg_port: int | None = Field(default=None, description="port of the embedded cluster; chosen free at creation")
    db_name: str = "wangge"
    auto_install: bool = Field(default=True, description="install missing PostgreSQL/PostGIS packages with apt")
    # 30 connections at most by default, below the 40 threads that run sync routes, so a request never
    # waits for a connection while holding a thread. A process works on one request fewer than it keeps
    # connections (api.app.admitted_requests); the overflow is for what takes a connection beside a request's.
    db_pool_size: int = Field(default=20, description="database connections the API keeps open")
    db_max_overflow: int = Field(default=10, description="extra connections for jobs, idempotency keys and the "
                                                          "sign-in limiter")
    db_pool_timeout_seconds: float = Field(default=10.0, description="wait for a free connection, then 503")

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000

    # Grid and community sizes (households), see docs: domain §3.
    grid_min_households: int = 300
    grid_max_households: int = 500
    grid_max_residents: int = 2500
    community_min_households: int = 1000
    community_max_households: int = 3000
    # Which plans must go through propose (street) → review (district) → approve (批复文号) before
    # adoption: none, community (community plans; grid plans stay one-step) or all. Plans put into
    # the chain are always adopted from approved, whatever this says.
    plan_approval: Literal["none", "community", "all"] = "none"
    # Level-2 grids (微网格): a building or a few, tens to about a hundred households (domain §2).
    micro_grid_max_households: int = 100
    # A party branch (网格党支部) needs at least this many full (not probationary) members (domain §6).
    party_branch_min_full_members: int = 3
    # A main road, river or railway ending this close (m) to the outline or another barrier is
    # taken to reach it: grids never join its two sides around the end.
    barrier_closing_m: float = 60.0
    # A footprint with less than this share of its area in one unit counts as split.
    split_building_share: float = 0.95

    # Household estimates from building footprints (domain §3).
    mean_dwelling_m2: float = 90.0
    usable_share: float = 0.75
    default_residential_floors: int = 6
    storey_height_m: float = Field(default=3.0, description="height of one storey, to turn a height into floors")
    neighbour_floors_radius_m: float = Field(
        default=150.0, description="floors of a building without levels: median of same-kind neighbours this close")
    neighbour_floors_min: int = Field(default=2, description="neighbours with mapped floors needed for that median")
    large_single_storey_m2: float = Field(
        default=1500.0, description="a home on one mapped storey above this footprint is a hall or works, not flats")
    large_footprint_m2: float = Field(
        default=5000.0, description="a plain building of unknown height above this footprint is not one block of flats")
    house_footprint_m2: float = Field(
        default=200.0, description="a plain building of unknown height smaller than this gets a house's floors")
    review_large_households: int = Field(default=300, description="`households review` flags estimates this large")

    # Privacy (domain §6).
    patrol_retention_days: int = 180
    # Patrol coverage (domain §5, 每周定期网格巡查): a building counts as visited within this distance of a
    # track, a street segment when this close to a track over half its length.
    patrol_building_radius_m: float = 30.0
    patrol_segment_radius_m: float = 20.0
    # A day's walk at one fix a second is ~30,000 points, ~4 MB of GPX; a bigger upload is refused.
    patrol_max_upload_bytes: int = 10_000_000

    # ID numbers at rest (PIPL art. 28, 51; gis.idnumbers): AES-256-GCM key, 32 bytes base64url
    # (`wangge keys new`). Never stored in the database or a backup; keep it apart from both.
    id_key: str = Field(default=DEMO_ID_KEY,
                        description="key that encrypts ID numbers (the demo key in demo mode only)")
    id_keys_previous: list[str] = Field(default=[],
                                        description="older ID keys, still read while `wangge keys rotate` runs")
    id_lookup_key: str | None = Field(default=None, description="HMAC key for ID lookups; derived from id_key if unset")
    # Registers (一标三实): a standard address's point belongs to the nearest footprint within this distance.
    address_match_distance_m: float = 30.0

    # Facility catalogue: what a general hospital counts as where a city says so (domain §4);
    # unset, a hospital is no life-circle facility. Specialised hospitals never count.
    general_hospital_counts_as: str | None = Field(
        default=None, description="catalogue type a general hospital counts as (e.g. health_centre); off by default")

    # Sign-in. The demo secret is public (it is in this file): the app runs with it, and signs in
    # the demo_* accounts (public passwords), only in demo mode, which `wangge demo` sets and which
    # is refused in production and off loopback. Any other start needs a real secret: behind a
    # proxy the app listens on loopback too, so the bind address proves nothing.
    secret_key: str = Field(default=DEMO_SECRET, description="HMAC key for access tokens (32+ characters)")
    token_minutes: int = Field(default=480, description="access token lifetime: one working shift")
    environment: str = Field(default="local", description="local | production (production refuses demo secrets)")
    demo_mode: bool = Field(default=False, description="the public demo secret, demo ID key and demo_* accounts "
                                                       "allowed (set by `wangge demo`; loopback only, never in "
                                                       "production)")
    # Request guards (api/ratelimit.py), counted per worker process.
    max_request_bytes: int = Field(default=25 * 1024 * 1024, description="largest request body; bigger gets 413")
    login_failures_per_username: int = Field(default=5, description="failed sign-ins per username per window")
    login_failures_per_ip: int = Field(default=20, description="failed sign-ins per client address per window")
    login_window_seconds: float = Field(default=60.0, description="the sign-in failure window")

    # Background jobs (issue 20, gis/services/jobs.py): a queue in PostgreSQL shared by every server
    # process. One worker thread per process by default: a job keeps a core busy, and with
    # `wangge serve --workers 2` on two cores that is one job per core beside the requests.
    job_workers: int = Field(default=1, ge=0, description="job worker threads per server process (0: only queue)")
    job_lease_seconds: float = Field(default=60.0, gt=0, description="a running job whose worker has not beaten "
                                                                     "for this long is taken back")
    job_poll_seconds: float = Field(default=1.0, gt=0, description="how often an idle worker looks for queued jobs")

    # Incidents (domain §5, issue 7). Deadline limits per stage × urgency × area are the defaults of
    # gis.cases.deadlines; these override them (minutes) without code.
    case_timezone: str = Field(default="Asia/Shanghai", description="the working calendar's time zone")
    case_working_periods: list[tuple[str, str]] = Field(
        default=[("08:30", "12:00"), ("13:30", "17:30")], description="working periods of a working day (HH:MM)")
    case_dispatch_minutes_urgent: float = 10
    case_dispatch_minutes_normal: float = 30
    case_handling_hours_urgent: float = 2
    case_handling_hours_normal: float = 24
    case_verification_hours_urban: float = 1
    case_verification_hours_rural: float = 2
    case_urgent_wall_clock: bool = Field(default=True, description="urgent cases count every hour, holidays too")
    case_due_soon_share: float = Field(default=0.25, description="due soon once this share of a limit is left")
    case_duplicate_radius_m: float = 50.0
    case_duplicate_window_hours: float = 72.0
    case_verify_max_distance_m: float = 100.0
    case_boundary_tolerance_m: float = Field(
        default=0.01, description="a reported point this close to a grid boundary counts as on it")
    case_categories_path: Path | None = Field(default=None, description="a city's own incident_categories.csv")
    # Issue 18 (cases beyond the grid): who verifies (never the handler of the case), the share of
    # 随手办 reports a verifier checks instead of the automatic photo check.
    case_verifier_roles: list[str] = Field(default=["supervisor", "grid_leader", "admin"],
                                           description="roles that verify (核查) cases")
    case_quick_fix_sample_share: float = Field(default=0.2, ge=0, le=1,
                                               description="share of 随手办 reports sampled for a verifier's check")
    incident_photo_max_bytes: int = Field(default=10 * 1024 * 1024, description="largest photo accepted")
    incident_photo_max_pixels: int = Field(default=50_000_000,
                                           description="most pixels a photo may decode to (bigger: refused unread)")
    # Open311 POST requests.json: api_key must be one of the keys, unless filing is opened to anyone
    # (like a 12345 web form). Every filing lands as a case with a deadline on grid staff, so both
    # ways are rate limited per client address and per key, in PostgreSQL (shared by all processes).
    open311_api_keys: list[str] = Field(default=[], description="api keys of citizen apps allowed to file")
    open311_open_filing: bool = Field(default=False, description="anyone may file without an api key")
    open311_filings_per_address: int = Field(default=10, description="filings per client address per window")
    open311_filings_per_key: int = Field(default=500, description="filings per api key per window")
    open311_window_seconds: int = Field(default=3600, description="the Open311 rate-limit window")
    # Addresses of reverse proxies whose X-Forwarded-For is believed (none: the peer address is
    # the client's, and a forged header changes nothing).
    trusted_proxies: list[str] = Field(default=[], description="proxy addresses (or networks) trusted for "
                                                               "X-Forwarded-For")
    open311_coordinate_decimals: int = Field(default=4, description="public lat/long precision (4: about 10 m)")

    # Web app (issue 8). Our own vector tiles are always drawn; an XYZ basemap under them is optional
    # (Tianditu with a key, an intranet tile server). GCJ-02 basemaps (AMap, Tencent) need our overlays
    # shifted to meet them; CGCS2000 and WGS84 ones line up as they are.
    basemap_url: str | None = Field(default=None, description="XYZ template, e.g. http://tiles.local/{z}/{x}/{y}.png")
    basemap_crs: Literal["gcj02", "wgs84", "cgcs2000"] = Field(default="wgs84", description="the basemap's datum")
    basemap_attribution: str = Field(default="", description="credit line the basemap's licence asks for")
    supervision_hotline: str = Field(default="12345", description="监督电话 printed on every grid notice")

    def uses_demo_secret(self) -> bool:
        """True while the public demo secret (or a short one) signs tokens."""
        return self.secret_key == DEMO_SECRET or len(self.secret_key) < 32

    def uses_demo_id_key(self) -> bool:
        """True while the public demo key encrypts ID numbers."""
        return self.id_key == DEMO_ID_KEY

    def state_dir(self) -> Path:
        """Absolute path of the project-local state folder."""
        return self.home.expanduser().resolve()
