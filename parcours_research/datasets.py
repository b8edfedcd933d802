"""Where the bundled sample study lives, so that notebooks run from any folder of the checkout."""

from __future__ import annotations

from pathlib import Path

from .errors import StudyError

SAMPLE = Path("data") / "sample"


def sample_dir(start: str | Path | None = None) -> Path:
    """The bundled sample study (``data/sample``) of the checkout holding ``start``.

    Looks in ``start`` (default: the current folder) and each folder above it, so a notebook
    finds the sample whether Jupyter was started at the repository root or in ``notebooks/``.

    Parameters
    ----------
    start : str or Path, optional
        Folder to start from; the current working folder by default.

    Returns
    -------
    Path
        The absolute path of the folder holding the sample's ``study.yml``.

    Raises
    ------
    StudyError
        If no ``data/sample/study.yml`` is found there or above; the message says how to write
        one (``parcours sample data/sample``).
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / SAMPLE
        if (candidate / "study.yml").is_file():
            return candidate
    raise StudyError(
        f"No sample study (data/sample/study.yml) in {here} or the folders above it: "
        "run `parcours sample data/sample` at the repository root, or give the study's folder "
        "(for a notebook: papermill -p study_dir PATH)."
    )
