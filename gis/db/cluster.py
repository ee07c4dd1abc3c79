"""The embedded default database: a project-local PostgreSQL cluster with PostGIS and pgRouting.

``wangge db start`` creates the cluster under ``<home>/pg`` the first time (home is ``.wangge``
in the project), installs the Debian packages it needs when they are missing and it may,
and runs the server on 127.0.0.1 on a port of its own. PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gis.errors import DatabaseUnavailable, SetupError

SUPERUSER = "wangge"
FIRST_PORT = 54321
EXTENSIONS = ("postgis", "pgrouting")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Server:
    """Where the PostgreSQL programs of one major version live."""

    major: int
    bin_dir: Path
    share_dir: Path

    def has_extension(self, name: str) -> bool:
        return (self.share_dir / "extension" / f"{name}.control").exists()


def find_servers() -> list[Server]:
    """Installed PostgreSQL servers, newest first (Debian layout, then ``pg_config`` on PATH)."""
    servers = []
    for bin_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bin_dir / "pg_ctl").exists() and bin_dir.parent.name.isdigit():
            major = int(bin_dir.parent.name)
            servers.append(Server(major, bin_dir, Path(f"/usr/share/postgresql/{major}")))
    pg_config = shutil.which("pg_config")
    if not servers and pg_config:
        out = subprocess.run([pg_config, "--bindir", "--sharedir", "--version"], capture_output=True, text=True)
        lines = out.stdout.split("\n")
        if out.returncode == 0 and len(lines) >= 3 and Path(lines[0], "pg_ctl").exists():
            major = int(re.findall(r"\d+", lines[2])[0])
            servers.append(Server(major, Path(lines[0]), Path(lines[1])))
    return sorted(servers, key=lambda s: s.major, reverse=True)


def packages_for(major: int | None) -> list[str]:
    """The Debian/Ubuntu packages that add PostGIS and pgRouting to a server (or bring the default one)."""
    if major is None:
        return ["postgresql", "postgresql-postgis", "postgresql-pgrouting"]
    return [f"postgresql-{major}-postgis-3", f"postgresql-{major}-pgrouting"]


def install_packages(packages: Sequence[str], *, log: Log) -> None:
    """Install Debian packages with apt, as root or with password-less sudo; else say what to run."""
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        raise SetupError(
            f"PostgreSQL with PostGIS and pgRouting is missing; run: sudo apt-get update && sudo {' '.join(command)}"
        )
    if not shutil.which("apt-get"):
        raise SetupError(f"no apt-get on this machine; install {', '.join(packages)} with your package manager")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"installing {' '.join(packages)} (apt-get)")
    update = subprocess.run([*prefix, "apt-get", "update", "-qq"], capture_output=True, text=True, env=env)
    if update.returncode != 0:
        log(f"apt-get update failed, trying the install anyway: {update.stderr.strip()[-200:]}")
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SetupError(f"apt-get install {' '.join(packages)} failed: {tail[0]}")


def _usable_server() -> Server | None:
    return next((s for s in find_servers() if all(s.has_extension(e) for e in EXTENSIONS)), None)


def ensure_server(*, auto_install: bool, log: Log) -> Server:
    """A PostgreSQL server with PostGIS and pgRouting, installing packages when allowed."""
    server = _usable_server()
    if server is not None:
        return server
    servers = find_servers()
    needed = packages_for(servers[0].major if servers else None)
    if not auto_install:
        raise SetupError(
            "PostgreSQL with PostGIS and pgRouting is missing; run: "
            f"sudo apt-get update && sudo apt-get install -y {' '.join(needed)}"
        )
    install_packages(needed, log=log)
    server = _usable_server()
    if server is None:
        raise SetupError(f"installed {' '.join(needed)} but found no server with PostGIS and pgRouting")
    return server


def _port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on ``port``.

    SO_REUSEADDR, as PostgreSQL sets it: connections the server just closed linger in TIME_WAIT
    on its port for a minute, and without the flag a stopped cluster would look "taken".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(start: int) -> int:
    for port in range(start, start + 200):
        if _port_is_free(port):
            return port
    raise SetupError(f"no free TCP port on 127.0.0.1 between {start} and {start + 199}")


@dataclass
class ClusterState:
    """What ``<home>/cluster.json`` remembers about the cluster."""

    port: int
    password: str
    major: int

    def url(self, db_name: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{db_name}"


class EmbeddedCluster:
    """The project-local cluster under ``home``: create, start, stop and describe it."""

    def __init__(self, home: Path, *, port: int | None = None, auto_install: bool = True, log: Log | None = None):
        self.home = home.expanduser().resolve()
        self.data_dir = self.home / "pg"
        self.state_file = self.home / "cluster.json"
        self.log_file = self.data_dir / "server.log"
        self.requested_port = port
        self.auto_install = auto_install
        self.log: Log = log or (lambda _msg: None)

    # -- state ---------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def state(self) -> ClusterState:
        if not self.state_file.exists():
            raise DatabaseUnavailable(
                f"no database configured: run `wangge db start` (creates {self.data_dir}) or set WANGGE_DATABASE_URL"
            )
        data = json.loads(self.state_file.read_text())
        return ClusterState(port=data["port"], password=data["password"], major=data["major"])

    def url(self, db_name: str) -> str:
        return self.state().url(db_name)

    # -- running as the right user -------------------------------------------------------

    @property
    def _as_postgres(self) -> bool:
        return os.geteuid() == 0

    def _run(self, args: Sequence[str | Path], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if check and done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            detail = message[-1] if message else f"exit {done.returncode}"
            raise SetupError(f"{Path(str(args[0])).name} failed: {detail}")
        return done

    def _give_to_postgres(self, path: Path) -> None:
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _check_reachable(self) -> None:
        """As root, the postgres user must be able to walk down to the data directory."""
        if not self._as_postgres:
            return
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise SetupError("running as root needs the 'postgres' system user; "
                             "install the postgresql package") from None
        probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(self.home)])
        if probe.returncode != 0:
            raise SetupError(
                f"the postgres user cannot reach {self.home} (a parent folder is private); "
                "set WANGGE_HOME to a folder it can reach, e.g. /var/lib/wangge"
            )

    # -- lifecycle -----------------------------------------------------------------------

    def create(self) -> Server:
        """Create the cluster (first time only); returns the server it runs on."""
        server = ensure_server(auto_install=self.auto_install, log=self.log)
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)
        self._check_reachable()
        if self.exists:
            state = self.state()
            return next((s for s in find_servers() if s.major == state.major), server)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise SetupError(
                f"{self.data_dir} holds files but no complete cluster; remove it (rm -r {self.data_dir}) "
                "and start again"
            )
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._give_to_postgres(self.data_dir)
        password = secrets.token_urlsafe(18)
        pwfile = self.home / ".initdb-pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._give_to_postgres(pwfile)
        self.log(f"creating PostgreSQL {server.major} cluster in {self.data_dir}")
        try:
            self._run([server.bin_dir / "initdb", "-D", self.data_dir, "-U", SUPERUSER, f"--pwfile={pwfile}",
                       "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-locale"])
        finally:
            pwfile.unlink(missing_ok=True)
        port = self.requested_port or _free_port(FIRST_PORT)
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# Wangge embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
            )
        self.state_file.write_text(json.dumps({"port": port, "password": password, "major": server.major}))
        self.state_file.chmod(0o600)
        return server

    def pid(self) -> int | None:
        """The postmaster's pid if it is running, cleaning up a stale pid file on the way."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text().split("\n", 1)[0].strip()
        except (FileNotFoundError, PermissionError):
            return None
        pid = int(first) if first.isdigit() else None
        if pid is not None and _is_postgres(pid):
            return pid
        self.log(f"removing stale pid file {pid_file} (pid {pid} is not a running postgres)")
        pid_file.unlink(missing_ok=True)
        return None

    def start(self, *, timeout_s: float = 60.0) -> ClusterState:
        """Create if needed and start; starting a running cluster does nothing."""
        server = self.create()
        state = self.state()
        if self.pid() is not None:
            return state
        if not _port_is_free(state.port):
            raise SetupError(
                f"port {state.port} on 127.0.0.1 is taken by another program; "
                f"stop it or change the port in {self.state_file}"
            )
        self.log(f"starting PostgreSQL on 127.0.0.1:{state.port}")
        self._run([server.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_file, "-w",
                   "-t", str(int(timeout_s)), "start"], check=False)
        if self.pid() is None:
            raise SetupError(f"PostgreSQL did not start; see {self.log_file}: {self._log_tail()}")
        _wait_for_port(state.port, timeout_s)
        return state

    def stop(self, *, mode: str = "fast") -> bool:
        """Stop the server; returns False when it was not running.

        ``fast`` rolls back open transactions and shuts down cleanly; ``immediate`` is a crash
        (no checkpoint, WAL recovery at the next start), which the fault tests use.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        if self.pid() is None:
            return False
        server = self._server()
        self._run([server.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop"])
        return True

    def destroy(self) -> None:
        """Stop and delete the whole cluster (all data)."""
        if self.exists:
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def _server(self) -> Server:
        major = self.state().major
        for server in find_servers():
            if server.major == major:
                return server
        raise SetupError(f"the cluster in {self.data_dir} needs PostgreSQL {major}, which is not installed")

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in {"postgres", "postmaster"}
    except OSError:
        return False


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SetupError(f"PostgreSQL started but does not answer on 127.0.0.1:{port}")
