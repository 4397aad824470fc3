"""A real Neo4j Community server run from Maven Central jars, for the demo, the tests and local use.

No Docker and no installer: Maven resolves ``org.neo4j:neo4j`` with its runtime dependencies once into
the user cache, and the server runs as a plain Java process bound to 127.0.0.1. What was started is
recorded in ``<home>/run/vlkge-server.json`` so that ``stop`` ends exactly that process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vlkge_graph.config import LocalServerConfig
from vlkge_graph.errors import Neo4jServerError
from vlkge_graph.etl.sources import PROJECT_ROOT, cache_dir

log = logging.getLogger(__name__)

ENTRY_CLASS = "org.neo4j.server.CommunityEntryPoint"
#: JVM flags Neo4j 5.26's own launcher passes (Netty and the page cache need these packages open), except
#: the collector: on this small local server (heap of 1-2 GB, few cores) the throughput collector writes
#: about 10% faster than the launcher's G1 (docs/benchmarks.md, publish); its pauses stay short at this size.
JVM_FLAGS = [
    "-XX:+UseParallelGC", "-XX:-OmitStackTraceInFastThrow", "-XX:+AlwaysPreTouch",
    "-XX:+UnlockExperimentalVMOptions", "-XX:+TrustFinalNonStaticFields", "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024", "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048", "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256", "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints", "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED", "-Dlog4j2.disable.jmx=true", "-Dfile.encoding=UTF-8",
]
#: The project's own procedure plugin, when it has been built (see cypher/procedures).
PROJECT_PLUGIN_DIR = PROJECT_ROOT / "cypher" / "procedures" / "target"
START_TIMEOUT_S = 240
PROCEDURE_ALLOWLIST = "vlkge.*"


@dataclass
class ServerState:
    """What ``start`` recorded: enough to reconnect to, and to stop, exactly this server."""

    pid: int
    bolt_port: int
    http_port: int
    version: str
    home: str
    started_at: float

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"


def ensure_jars(version: str) -> Path:
    """Resolve Neo4j's runtime classpath from Maven Central once; return the folder of jars."""
    lib = cache_dir("neo4j", f"lib-{version}")
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError("Maven (mvn) is needed once to fetch Neo4j's jars: apt-get install maven")
    log.info("fetching Neo4j %s jars from Maven Central (once, about 120 MB)", version)
    pom = f"""<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>vlkge</groupId><artifactId>neo4j-runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.neo4j</groupId><artifactId>neo4j</artifactId>
<version>{version}</version></dependency></dependencies></project>"""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pom.xml").write_text(pom)
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={lib}"], cwd=tmp, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(lib.glob(f"neo4j-{version}.jar")):
        raise Neo4jServerError(f"could not fetch org.neo4j:neo4j:{version} with Maven:\n"
                               f"{(result.stdout + result.stderr)[-2000:]}")
    marker.write_text(version)
    return lib


def server_settings(config: LocalServerConfig, home: Path, bolt: int, http: int) -> dict[str, str]:
    """neo4j.conf for the local server; compose.yaml mirrors the settings that are not paths or ports."""
    return {
        "server.default_listen_address": "127.0.0.1",
        "server.default_advertised_address": "127.0.0.1",
        "server.bolt.listen_address": f"127.0.0.1:{bolt}",
        "server.http.listen_address": f"127.0.0.1:{http}",
        "server.https.enabled": "false",
        # A local development server bound to loopback; set NEO4J_URI to use a secured one.
        "dbms.security.auth_enabled": "false",
        "dbms.usage_report.enabled": "false",
        "dbms.security.procedures.allowlist": PROCEDURE_ALLOWLIST,
        "server.directories.data": f"{home}/data",
        "server.directories.logs": f"{home}/logs",
        "server.directories.plugins": f"{home}/plugins",
        "server.directories.import": f"{home}/import",
        "server.directories.run": f"{home}/run",
        "server.memory.heap.initial_size": config.heap,
        "server.memory.heap.max_size": config.heap,
        "server.memory.pagecache.size": config.pagecache,
        "db.tx_log.rotation.retention_policy": "1 files",
        **{key: str(value).lower() if isinstance(value, bool) else str(value)
           for key, value in config.settings.items()},
    }


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int) -> int:
    """``preferred`` when it is free, else a free port chosen by the OS."""
    if preferred and port_is_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One Neo4j home directory: configuration, data, logs, plugins, and the process serving it."""

    def __init__(self, config: LocalServerConfig | None = None, home: str | Path | None = None):
        self.config = config or LocalServerConfig()
        default_home = cache_dir("neo4j") / f"home-{self.config.version}"
        self.home = Path(home or self.config.home or default_home).expanduser().resolve()
        self.state_file = self.home / "run" / "vlkge-server.json"

    # -- inspection -------------------------------------------------------------------------
    def state(self) -> ServerState | None:
        """The recorded server if its process still runs, else None (a stale record is removed)."""
        try:
            state = ServerState(**json.loads(self.state_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None
        if not _is_our_process(state.pid, self.home):
            self.state_file.unlink(missing_ok=True)
            return None
        return state

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout_s: float = START_TIMEOUT_S) -> ServerState:
        """Start the server (or return the running one) and wait until Bolt answers."""
        running = self.state()
        if running is not None:
            return running
        lib = ensure_jars(self.config.version)
        bolt = free_port(self.config.bolt_port)
        http = free_port(self.config.http_port if self.config.http_port != bolt else 0)
        self._write_home(bolt, http)
        java = shutil.which("java")
        if java is None:
            raise Neo4jServerError("Java 17 is needed to run Neo4j 5.26: apt-get install openjdk-17-jre")
        cmd = [java, f"-Xms{self.config.heap}", f"-Xmx{self.config.heap}", *JVM_FLAGS,
               "-cp", f"{self.home}/plugins/*:{self.home}/conf/*:{lib}/*", ENTRY_CLASS,
               f"--home-dir={self.home}", f"--config-dir={self.home / 'conf'}", "--console-mode"]
        console = open(self.home / "logs" / "console.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.home)
        console.close()
        state = ServerState(pid=proc.pid, bolt_port=bolt, http_port=http, version=self.config.version,
                            home=str(self.home), started_at=time.time())
        self.state_file.write_text(json.dumps(asdict(state)))
        self._wait_for_bolt(state, proc, timeout_s)
        return state

    def stop(self, timeout_s: float = 60) -> bool:
        """Stop the recorded server with SIGTERM (SIGKILL after ``timeout_s``); False if none ran."""
        state = self.state()
        if state is None:
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _is_our_process(state.pid, self.home):
            time.sleep(0.2)
        if _is_our_process(state.pid, self.home):
            log.warning("Neo4j (pid %d) ignored SIGTERM for %.0f s; killing it", state.pid, timeout_s)
            os.kill(state.pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return True

    # -- internals --------------------------------------------------------------------------
    def _write_home(self, bolt: int, http: int) -> None:
        for sub in ("conf", "data", "logs", "plugins", "import", "run"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        for jar in [*map(Path, self.config.plugins), *sorted(PROJECT_PLUGIN_DIR.glob("vlkge-procedures*.jar"))]:
            if not jar.is_file():
                raise Neo4jServerError(f"plugin jar {jar} (local_server.plugins) does not exist")
            shutil.copy2(jar, self.home / "plugins" / jar.name)
        settings = server_settings(self.config, self.home, bolt, http)
        text = "# Written by vlkge-graph; edit local_server in vlkge.yaml instead.\n"
        text += "".join(f"{k}={v}\n" for k, v in settings.items())
        (self.home / "conf" / "neo4j.conf").write_text(text)

    def _wait_for_bolt(self, state: ServerState, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        from neo4j import GraphDatabase  # keep `import server` light
        from neo4j.exceptions import ServiceUnavailable

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise Neo4jServerError(f"Neo4j exited with code {proc.returncode} while starting; "
                                       f"last log lines:\n{self.log_tail()}")
            try:
                with GraphDatabase.driver(state.uri, auth=None) as driver:
                    driver.verify_connectivity()
                return
            except (ServiceUnavailable, OSError):
                time.sleep(1)
        self.stop(timeout_s=10)
        raise Neo4jServerError(f"Neo4j did not answer on {state.uri} within {timeout_s:.0f} s; "
                               f"last log lines:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.home / "logs" / "console.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _is_our_process(pid: int, home: Path) -> bool:
    """True if ``pid`` is alive and is the Neo4j serving ``home`` (guards against reused pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return ENTRY_CLASS in cmdline and f"--home-dir={home}" in cmdline
