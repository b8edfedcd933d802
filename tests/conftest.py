"""Shared fixtures: the bundled sample study, a local Spark session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_study_template(tmp_path_factory) -> Path:
    """A small seeded sample study (120 customers, 80 respondents, 14 days), made once: tests
    that break files copy it first (see ``study`` in tests/test_hostile_files.py)."""
    import parcours_research as pr

    out = tmp_path_factory.mktemp("template") / "study"
    pr.make_sample(
        out, n_customers=120, n_prospects=30, n_respondents=80, n_participants=6, days=14
    )
    return out


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The committed sample study (``data/sample``, seed 0)."""
    return ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def sample_study(sample_dir):
    """The sample study, loaded once per test session (treat it as read-only)."""
    import parcours_research as pr

    return pr.load_study(sample_dir)


@pytest.fixture(scope="session")
def _spark_jvm():
    """Skips without pyspark or Java; stops this process's Spark session at the end."""
    import spark_cluster

    reason = spark_cluster.skip_reason()
    if reason:
        pytest.skip(reason)
    yield
    spark_cluster.stop_active()


@pytest.fixture(scope="module")
def spark(_spark_jvm):
    """A local Spark session (2 cores, UTC), skipped without pyspark or Java. One JVM holds
    one session: a module uses either this or ``spark_cluster_session``."""
    import spark_cluster

    return spark_cluster.session_for("local[2]")


@pytest.fixture(scope="session")
def spark_cluster(_spark_jvm, tmp_path_factory):
    """A Spark standalone cluster on 127.0.0.1 (a master and a worker with 2 cores, started
    from pyspark's ``bin/spark-class``), for the whole test session: its ``.url`` is the
    master URL. Stopped (process groups, SIGTERM then SIGKILL) at the end."""
    import spark_cluster

    cluster = spark_cluster.start_cluster(tmp_path_factory.mktemp("spark_cluster"))
    yield cluster
    spark_cluster.stop_active()
    cluster.stop()


@pytest.fixture(scope="module")
def spark_cluster_session(spark_cluster):
    """A SparkSession whose executors run on the ``spark_cluster`` worker (driver here)."""
    import spark_cluster as sc

    return sc.session_for(spark_cluster.url, sc.cluster_conf())


#: Seeds of the samples on which the seeds' analytics (issue 19) must recover every planted
#: effect: no other test uses them, and the analyses were not tuned on them.
RECOVERY_SEEDS = (101, 303, 505)


@pytest.fixture(scope="session")
def recovery_studies(tmp_path_factory):
    """Sample studies at :data:`RECOVERY_SEEDS` (effects drawn from the seed) and a null one
    (``effects="null"``, seed 404): ``{seed: study folder}``, the null one under key ``"null"``.
    Written once per test session; treat them as read-only."""
    import parcours_research as pr

    root = tmp_path_factory.mktemp("recovery")
    out = {s: pr.sample.make_sample(root / f"seed{s}", seed=s) for s in RECOVERY_SEEDS}
    out["null"] = pr.sample.make_sample(root / "null", seed=404, effects="null")
    return out
