"""What an analysis was given: a study, its prepared evidence, or a table (private).

The one test of "is this a study?" for every function that takes a study or a DataFrame.
It replaces the ad-hoc duck typing (``hasattr(x, "journey")``, ``hasattr(x, "responses")``,
``_is_study``) that read a study differently in each module.
"""

from __future__ import annotations

__all__ = ["is_study", "is_evidence", "study_of"]


def is_evidence(obj) -> bool:
    """Whether ``obj`` is a study's prepared evidence
    (:class:`parcours_research.evidence.Evidence`)."""
    from .evidence import Evidence

    return isinstance(obj, Evidence)


def _is_loaded_study(obj) -> bool:
    from .study import Study

    return isinstance(obj, Study)


def is_study(obj) -> bool:
    """Whether ``obj`` is a loaded :class:`~parcours_research.study.Study` or its prepared
    evidence: what analyses taking "a Study or a DataFrame" treat as a study."""
    if obj is None or _is_frame(obj):
        return False
    return _is_loaded_study(obj) or is_evidence(obj)


def study_of(obj):
    """The :class:`~parcours_research.study.Study` behind ``obj`` (a Study or its prepared
    evidence), else None."""
    if obj is None or _is_frame(obj):
        return None
    if _is_loaded_study(obj):
        return obj
    if is_evidence(obj):
        return obj.study
    return None


def _is_frame(obj) -> bool:
    import pandas as pd

    return isinstance(obj, pd.DataFrame | pd.Series)
