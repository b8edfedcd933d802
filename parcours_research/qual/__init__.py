"""Qualitative evidence: coded interviews and workshops.

Import coded excerpts from a CSV (:func:`read_excerpts`) or a REFI-QDA project
(:func:`read_qdpx`, safely), export them (:func:`write_qdpx`), and analyse them: code
frequencies, the valence curve per touchpoint, the most telling quotes (scrubbed), and
agreement between coders (Krippendorff's alpha).
"""

from .agreement import Agreement, agreement, krippendorff_alpha
from .coding import code_frequencies, mean_valence, quotes
from .excerpts import read_excerpts
from .qdpx import read_qdpx, write_qdpx
from .safety import Limits
from .schema import EXCERPT_COLUMNS

__all__ = [
    "EXCERPT_COLUMNS",
    "Agreement",
    "Limits",
    "agreement",
    "code_frequencies",
    "krippendorff_alpha",
    "mean_valence",
    "quotes",
    "read_excerpts",
    "read_qdpx",
    "write_qdpx",
]
