"""Qualitative evidence: coded interviews and workshops.

Import coded excerpts from a CSV, the coded-segment exports of Taguette, NVivo, ATLAS.ti and
MAXQDA (:func:`read_excerpts`) or a REFI-QDA project (:func:`read_qdpx`, safely), read a
REFI-QDA codebook (:func:`read_codebook`), export them (:func:`write_qdpx`), and analyse them: code
frequencies, the valence curve per touchpoint, the most telling quotes (scrubbed), and
agreement between coders (Krippendorff's alpha).
"""

from .agreement import Agreement, agreement, krippendorff_alpha
from .codebook import Codebook, read_codebook
from .coding import code_frequencies, mean_valence, quotes
from .excerpts import read_excerpts
from .qdpx import read_qdpx, write_qdpx
from .safety import Limits
from .schema import EXCERPT_COLUMNS

__all__ = [
    "EXCERPT_COLUMNS",
    "Agreement",
    "Codebook",
    "Limits",
    "agreement",
    "code_frequencies",
    "krippendorff_alpha",
    "mean_valence",
    "quotes",
    "read_codebook",
    "read_excerpts",
    "read_qdpx",
    "write_qdpx",
]
