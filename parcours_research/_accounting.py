"""Where the units of an analysis went: how many were read, how many each reason left out, and
how many the model kept (the same shape as a cleaning log, whose counts add up to the input).

Shared by :func:`parcours_research.contact.contact_pressure` (respondents) and
:func:`parcours_research.outcomes.at_stake` (customers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def accounting(checks: dict[str, np.ndarray], n: int, *, read: str, kept: str = "in the model",
               unit: str = "n") -> tuple[pd.DataFrame, np.ndarray]:
    """Count the units each reason leaves out, in order, and the units kept.

    Parameters
    ----------
    checks : dict of str to boolean array
        ``reason -> passes``, in the order the reasons are checked: ``passes`` is True for
        the units the reason keeps. A unit left out by several reasons counts under the
        first.
    n : int
        Units read (the length of every mask).
    read, kept : str
        Labels of the first row (the units read) and of the last (the units kept).
    unit : str, default "n"
        Name of the count column (``respondents``, ``customers``).

    Returns
    -------
    table : DataFrame
        ``step, <unit>``: ``read`` (``n``), one row per reason (the units it leaves out among
        those still in), ``kept``; the reasons' rows and ``kept`` add up to ``read``.
    keep : ndarray of bool
        The units kept.
    """
    keep = np.ones(n, dtype=bool)
    rows = [(read, n)]
    for reason, passes in checks.items():
        passes = np.asarray(passes, dtype=bool)
        rows.append((reason, int((keep & ~passes).sum())))
        keep &= passes
    rows.append((kept, int(keep.sum())))
    return pd.DataFrame(rows, columns=["step", unit]), keep


def left_out(table: pd.DataFrame) -> pd.Series:
    """The reasons' counts of an :func:`accounting` table (first and last rows dropped),
    indexed by reason."""
    s = table.set_index("step").iloc[:, 0]
    return s.iloc[1:-1]
