"""nbval checks every notebook cell runs; this hook also checks that every cell that draws
a figure of the kit shows it (an ``image/png`` output), so a figure silently missing in
Jupyter fails CI instead of passing unnoticed."""

from __future__ import annotations

import re

import pytest

DRAWS = re.compile(r"^(?!\s*#).*\bpr\.plot\.(?!style\b)\w+\(", re.MULTILINE)


def _images(outputs) -> int:
    return sum("image/png" in (o.get("data") or {}) for o in outputs or [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    cell = getattr(item, "cell", None)
    source = getattr(cell, "source", "")
    if cell is not None and DRAWS.search(source) and not source.rstrip().endswith(";"):
        if _images(getattr(item, "test_outputs", None)) == 0:
            raise AssertionError(
                f"{item.name}: this cell draws a figure (pr.plot.…) but shows no image; "
                "a figure that Jupyter does not display is a figure the researcher never sees"
            )
    return result
