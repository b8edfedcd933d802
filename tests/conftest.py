"""Shared fixtures: the bundled sample study."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The committed sample study (``data/sample``, seed 0)."""
    return ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def sample_study(sample_dir):
    """The sample study, loaded once per test session (treat it as read-only)."""
    import parcours_research as pr

    return pr.load_study(sample_dir)
