"""Output folders the kit writes without harming the user's files.

A folder the kit writes (a report, a sample study) gets a *marker* file naming what it wrote
(``.parcours-report.json``, ``.parcours-sample.json``). Before writing into a folder:

- an absent or empty folder is fine;
- a folder with the kit's marker of the same kind is one of its own earlier outputs: it is
  replaced, and the files listed in the marker that the new run does not write (stale tables
  of another study) are removed;
- any other non-empty folder is refused unless ``overwrite``; even then only the files the
  run writes are replaced, and nothing else in the folder is deleted.

:func:`staged_output` builds everything in a temporary sibling folder and moves it into place
only when the run succeeded: a failed run leaves the previous output whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .errors import Problem, StudyError

__all__ = [
    "MARKERS",
    "read_marker",
    "check_folder",
    "staged_output",
    "write_marker",
    "owned_files",
    "clear_sample_folder",
    "mark_sample_folder",
]

MARKERS = {"report": ".parcours-report.json", "sample": ".parcours-sample.json"}


def read_marker(folder: Path, kind: str) -> dict | None:
    """The marker of an earlier output of ``kind`` in ``folder``, or None."""
    path = Path(folder) / MARKERS[kind]
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("kind") != kind
        or not isinstance(data.get("files"), list)
    ):
        return None
    return data


def owned_files(folder: Path, kind: str) -> set[str]:
    """Relative paths (``/`` separators) the kit wrote in ``folder`` according to its marker."""
    marker = read_marker(folder, kind)
    if marker is None:
        return set()
    out = set()
    for f in marker["files"]:
        p = Path(str(f))
        if isinstance(f, str) and not p.is_absolute() and ".." not in p.parts:
            out.add(p.as_posix())
    return out


def _existing_files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    }


def check_folder(folder: Path, kind: str, *, overwrite: bool, what: str) -> str:
    """Whether ``folder`` may receive an output of ``kind``: ``"new"`` (absent or empty),
    ``"ours"`` (an earlier output of the kit), ``"foreign"`` (non-empty, allowed by
    ``overwrite``); raises :class:`~parcours_research.errors.StudyError` otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StudyError(
            f"{folder} is a file, not a folder; choose another output folder for the {what}."
        )
    if not folder.exists() or not any(folder.iterdir()):
        return "new"
    if read_marker(folder, kind) is not None:
        return "ours"
    if overwrite:
        return "foreign"
    raise StudyError(
        f"{folder} is not empty and was not written by parcours ({what}); nothing was written.",
        [
            Problem(
                f"the folder holds files the kit did not write (no {MARKERS[kind]} marker)",
                str(folder),
                fix="choose an empty or new folder, or pass --overwrite (overwrite=True) to write beside "
                "them: only the files of the kit are then replaced, no other file is deleted",
            )
        ],
    )


def write_marker(folder: Path, kind: str, files, *, timestamp: bool = True, **info) -> Path:
    """Write the marker of an output of ``kind`` listing ``files`` (relative paths); without
    ``timestamp`` the marker is the same for the same files (a seeded sample)."""
    stamp = {"created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")} if timestamp else {}
    data = {
        "kind": kind,
        "written_by": "parcours_research",
        **stamp,
        **info,
        "files": sorted({Path(f).as_posix() for f in files}),
    }
    path = Path(folder) / MARKERS[kind]
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def staged_output(
    folder: str | Path,
    kind: str,
    *,
    overwrite: bool = False,
    what: str = "",
    info: dict | None = None,
) -> Iterator[Path]:
    """Build an output in a temporary sibling folder, then move it into ``folder``.

    Yields the temporary folder. When the block succeeds, its files replace those of the
    earlier output (stale files listed in the earlier marker are removed; no other file is
    deleted) and a new marker lists them; when it fails, the temporary folder is removed and
    ``folder`` is left as it was.
    """
    folder = Path(folder)
    state = check_folder(folder, kind, overwrite=overwrite, what=what or kind)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.parcours-", dir=folder.parent))
    try:
        yield tmp
        written = _existing_files(tmp)
        if state == "ours":
            clash = (
                (written & _existing_files(folder)) - owned_files(folder, kind) - {MARKERS[kind]}
            )
            if clash and not overwrite:
                raise StudyError(
                    f"{folder} holds files of the same names as the new {what or kind} that the kit "
                    f"did not write: {sorted(clash)[:5]}; nothing was changed. Move them, or pass "
                    "--overwrite (overwrite=True) to replace them."
                )
        _move_in(tmp, folder, state, written, kind)
        write_marker(folder, kind, written, **(info or {}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_in(tmp: Path, folder: Path, state: str, written: set[str], kind: str) -> None:
    """Put the files of ``tmp`` in ``folder`` (see :func:`staged_output`)."""
    if state == "new":
        if folder.exists():
            folder.rmdir()  # empty
        os.replace(tmp, folder)
        return
    stale = owned_files(folder, kind) - written if state == "ours" else set()
    for rel in sorted(written):
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, dest)
    for rel in sorted(stale):
        p = folder / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
        with contextlib.suppress(OSError):  # remove the sub-folder if that emptied it
            if p.parent != folder and not any(p.parent.iterdir()):
                p.parent.rmdir()


# the files of a sample study written before markers existed (recognised by its study.yml)
_LEGACY_SAMPLE = (
    "study.yml",
    "truth.json",
    "crm/customers.csv",
    "survey/responses.csv",
    "traces/events.csv.gz",
    "traces/identity.csv",
    "qual/excerpts.csv",
)
_SAMPLE_HEADER = "# Sample study written by `parcours sample`"


def clear_sample_folder(folder: str | Path, *, overwrite: bool) -> set[str]:
    """Make ``folder`` ready for a sample study; return the files left in it (not the kit's).

    A non-empty folder is refused unless ``overwrite``; with ``overwrite`` it must be a sample
    study the kit wrote (its ``.parcours-sample.json`` marker, or an older sample's
    ``study.yml`` header), and only the files the kit wrote there are deleted.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StudyError(
            f"{folder} is a file, not a folder; choose another folder for the sample study."
        )
    if not folder.exists() or not any(folder.iterdir()):
        return set()
    if not overwrite:
        raise StudyError(
            f"{folder} exists and is not empty; choose another folder or pass overwrite=True "
            "(--overwrite) to replace a sample study written there before."
        )
    ours = owned_files(folder, "sample")
    if not ours:
        yml = folder / "study.yml"
        head = yml.read_text(encoding="utf-8", errors="replace")[:200] if yml.is_file() else ""
        if head.startswith(_SAMPLE_HEADER) and (folder / "truth.json").is_file():
            ours = set(_LEGACY_SAMPLE)
    if not ours:
        raise StudyError(
            f"{folder} is not a sample study written by parcours (no {MARKERS['sample']} marker); "
            "--overwrite only replaces the kit's own sample. Nothing was deleted: choose another folder."
        )
    for rel in sorted(ours | {MARKERS["sample"]}):
        p = folder / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
    parents = {(folder / rel).parent for rel in ours} - {folder}
    for d in sorted(parents, key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()  # the kit's sub-folders, when the deletion emptied them
    return _existing_files(folder) if folder.exists() else set()


def mark_sample_folder(folder: str | Path, kept: set[str], **info) -> Path:
    """Write the marker of a sample study: every file in ``folder`` but the ``kept`` ones."""
    folder = Path(folder)
    return write_marker(
        folder, "sample", _existing_files(folder) - set(kept), timestamp=False, **info
    )
