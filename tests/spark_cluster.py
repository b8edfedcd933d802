"""A real Spark standalone cluster for the tests: one master and one worker on 127.0.0.1.

Started by the session fixture ``spark_cluster`` (see ``tests/conftest.py``) from pyspark's
own ``bin/spark-class`` (``org.apache.spark.deploy.master.Master`` and ``...worker.Worker``),
each in its own process group, and stopped at the end of the test session. The driver is the
test process: :func:`session_for` gives the one active SparkSession of this JVM for a master
URL, stopping the previous one when a test asks for another master (a JVM holds one
SparkContext at a time), so ``spark`` (local mode) and ``spark_cluster_session`` can be used by
tests of different modules in one run, not in the same module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: settings of every test session (UTC; no web UI; small shuffles)
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
}


def skip_reason() -> str | None:
    """Why a Spark test cannot run here (no pyspark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'parcours_research[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return (
            "Java is not installed (Spark needs Java 17: apt-get install openjdk-17-jre-headless)"
        )
    return None


def spark_home() -> Path:
    """``$SPARK_HOME``, else the Spark distribution bundled in the pyspark wheel."""
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running standalone cluster: ``url`` (``spark://127.0.0.1:PORT``), its processes and
    their log files."""

    url: str
    folder: Path
    processes: list = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        """Stop the worker, then the master: SIGTERM to each process group, SIGKILL after
        10 s (only the processes this cluster started)."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        self.processes.clear()


def _spawn(cluster: Cluster, name: str, args: list[str], env: dict) -> subprocess.Popen:
    log = open(cluster.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process
    proc = subprocess.Popen(
        [str(spark_home() / "bin" / "spark-class"), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cluster.folder,
        start_new_session=True,  # its own process group: stopped as a whole
    )
    cluster.processes.append(proc)
    return proc


def _wait_for(cluster: Cluster, what: str, check, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        if any(p.poll() is not None for p in cluster.processes):
            break
        time.sleep(0.25)
    cluster.stop()
    raise RuntimeError(f"the Spark {what} did not start within {timeout:.0f} s\n{cluster.logs()}")


def start_cluster(folder: Path, *, cores: int = 2, memory: str = "1g", timeout: float = 90):
    """Start a master and a worker (``cores``, ``memory``) on 127.0.0.1; return the
    :class:`Cluster` once the worker has registered with the master."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", folder)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder),
        "SPARK_WORKER_DIR": str(folder / "work"),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }
    env.pop("SPARK_MASTER_OPTS", None)
    _spawn(
        cluster,
        "master",
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(_free_port()),
        ],
        env,
    )

    def master_up() -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    _wait_for(cluster, "master", master_up, timeout)
    _spawn(
        cluster,
        "worker",
        [
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--cores",
            str(cores),
            "--memory",
            memory,
            "--webui-port",
            str(_free_port()),
            "--work-dir",
            str(folder / "work"),
            cluster.url,
        ],
        env,
    )

    def registered() -> bool:
        log = folder / "worker.log"
        return log.exists() and b"Successfully registered with master" in log.read_bytes()

    _wait_for(cluster, "worker", registered, timeout)
    return cluster


def session_for(master: str, conf: dict | None = None):
    """The active SparkSession of this process, for ``master``: the current one when it runs
    there, else a new one (the current one is stopped first)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    sc = SparkContext._active_spark_context
    if sc is not None and sc.master == master:
        return SparkSession.builder.getOrCreate()
    if sc is not None:
        active = SparkSession.getActiveSession()
        (active.stop() if active is not None else sc.stop())
    builder = SparkSession.builder.master(master).appName("parcours-test")
    for key, value in {**BASE_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def cluster_conf() -> dict:
    """Settings of a driver in this process talking to the cluster on 127.0.0.1."""
    return {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.executor.memory": "512m",
        "spark.executor.cores": "2",
        "spark.cores.max": "2",
        "spark.pyspark.python": sys.executable,
    }


def stop_active() -> None:
    """Stop this process's SparkContext, if any."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is not None:
        sc.stop()
