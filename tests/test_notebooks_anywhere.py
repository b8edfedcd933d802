"""Notebooks find the bundled sample from the repository root as from ``notebooks/`` (nbval runs
them from ``notebooks/``; a researcher often starts ``jupyter lab`` at the root), and every
figure they draw is shown (``notebooks/conftest.py`` checks that under nbval)."""

from __future__ import annotations

from pathlib import Path

import pytest

import parcours_research as pr
from parcours_research.errors import StudyError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("start", [ROOT, ROOT / "notebooks", ROOT / "data" / "sample" / "survey"])
def test_the_sample_is_found_from_any_folder_of_the_checkout(start):
    assert pr.datasets.sample_dir(start) == ROOT / "data" / "sample"


def test_outside_a_checkout_the_error_says_how_to_get_a_sample(tmp_path):
    with pytest.raises(StudyError, match="parcours sample data/sample"):
        pr.datasets.sample_dir(tmp_path)


def test_a_notebook_runs_from_the_repository_root():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in shown if o.get("output_type") == "error"]
    assert any("Assurance habitation" in str(o.get("data", {}).get("text/html", "")) for o in shown)


def test_every_figure_of_a_notebook_is_shown(tmp_path):
    """Two kit figures in two cells both show (in Jupyter the second one used to be lost when
    leaving the kit's style context switched interactive mode off)."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "import parcours_research as pr\n"
        "study = pr.load_study(pr.datasets.sample_dir())\n"
        "f = pr.traces.funnel(pr.prepare(study).traces.log, by='persona')",
        "fig = pr.plot.funnel(f, by='persona', journey=study.journey)",
        "fig = pr.plot.funnel(f, by='persona', journey=study.journey)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    images = [sum("image/png" in (o.get("data") or {}) for o in c.outputs) for c in nb.cells]
    assert images == [0, 1, 1]
