"""Code a maintainer can hold in their head: no function body over 80 lines of code.

Lines are counted from the first statement after the docstring to the last one, so a long
numpydoc docstring does not count against a function. The compiled kernels and one SQL builder
are allowed, listed by name: each is one loop (or one query) that reads best in one piece.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "parcours_research"
LIMIT = 80
ALLOWED = {
    "traces/_clean_arrays.py:fetch",  # one streaming loop over DuckDB's Arrow batches
    "traces/_kernels.py:_robots_and_near",  # one numba pass over each actor's events
}


def _long_functions(limit: int) -> dict[str, int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                first.value.value, str
            ):
                body = body[1:]
            if body:
                n = body[-1].end_lineno - body[0].lineno + 1
                if n > limit:
                    found[f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"] = n
    return found


def test_no_function_body_over_80_lines():
    found = _long_functions(LIMIT)
    loose = {k: v for k, v in found.items() if k not in ALLOWED}
    assert not loose, f"split these into helpers with one job each: {loose}"


def test_the_allowed_list_is_still_needed():
    stale = ALLOWED - set(_long_functions(LIMIT))
    assert not stale, f"short enough now: remove {sorted(stale)} from ALLOWED"
