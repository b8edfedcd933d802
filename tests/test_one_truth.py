"""One study, one truth: prepared evidence shared by analyses, notebooks, the report and the
workshop app; one weighting rule; the same number for the same quantity everywhere.

Expected numbers here are never produced by the function under test alone: a quantity computed
by two code paths (scores, curves, friction tests; notebook, report, widget) must agree, and the
weighting rule is checked against the weights it is documented to give (raking by
:func:`parcours_research.weighting.rake`, whose own tests check it against svy and a plain IPF;
the declared design column; ones).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import parcours_research as pr
from parcours_research.errors import WeightingError
from parcours_research.traces import _audit

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _study_copy(tmp_path: Path, edit) -> pr.Study:
    """A copy of the sample study with ``edit(study_yml_dict, responses_frame)`` applied."""
    dst = tmp_path / "study"
    shutil.copytree(SAMPLE, dst)
    cfg = yaml.safe_load((dst / "study.yml").read_text(encoding="utf-8"))
    resp_path = dst / cfg["survey"]["responses"]
    resp = pd.read_csv(resp_path)
    edit(cfg, resp)
    resp.to_csv(resp_path, index=False)
    (dst / "study.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return pr.load_study(dst)


# ---------------------------------------------------------------------------------------------
# the weighting rule
# ---------------------------------------------------------------------------------------------
def test_default_rule_rakes_to_the_margins(sample_study):
    sw = pr.weighting.study_weights(sample_study)
    ref = pr.weighting.rake(sample_study.responses, sample_study.margins)
    assert sw.rule == "rake" and sw.rake is not None
    np.testing.assert_array_equal(sw.weights.to_numpy(), ref.weights.to_numpy())
    assert "persona" in sw.description and "region" in sw.description
    assert repr(sw).startswith("StudyWeights(rule='rake'")


def test_default_rule_starts_the_raking_from_declared_design_weights(tmp_path):
    def edit(cfg, resp):
        resp["w_design"] = 1.0 + (np.arange(len(resp)) % 3)  # unequal design weights
        cfg["survey"]["weight"] = "w_design"

    study = _study_copy(tmp_path, edit)
    sw = pr.weighting.study_weights(study)
    ref = pr.weighting.rake(study.responses, study.margins, weight="w_design")
    np.testing.assert_array_equal(sw.weights.to_numpy(), ref.weights.to_numpy())
    assert sw.column == "w_design"
    # without margins, the declared design weights as they are
    study.margins = {}
    study._prepared.clear()
    design = pr.weighting.study_weights(study)
    assert design.rule == "design"
    np.testing.assert_array_equal(design.weights.to_numpy(), study.responses["w_design"].to_numpy())


def test_no_margins_no_design_weight_means_no_weights(tmp_path):
    study = _study_copy(tmp_path, lambda cfg, resp: cfg.pop("margins"))
    sw = pr.weighting.study_weights(study)
    assert sw.rule == "none" and (sw.weights == 1).all()
    curves = pr.curves.journey_curves(study, qual=False)
    assert set(curves["weighting"]) == {"none"}
    with pytest.raises(WeightingError, match="margins"):
        pr.weighting.study_weights(study, weight="rake")
    with pytest.raises(WeightingError, match="design weight"):
        pr.weighting.study_weights(study, weight="design")
    with pytest.raises(WeightingError, match="neither a weighting rule nor a column"):
        pr.weighting.study_weights(study, weight="nope")


def test_scores_curves_and_friction_show_the_same_estimate(sample_study):
    """For every touchpoint x persona of the sample: the weighted score, the journey-curve
    point and the survey friction test's estimate are one number (all three weighted by the
    study's default rule)."""
    ev = pr.prepare(sample_study)
    scores = pr.satisfaction.scores(ev.ratings, "score", by="persona", weight="weight",
                                    cluster="respondent_id")
    curves = pr.curves.journey_curves(sample_study, qual=False)
    friction = pr.friction.test_survey(sample_study, tests=["vs_target"])
    m = scores.merge(curves, on=["persona", "touchpoint"], suffixes=("_s", "_c")).merge(
        friction[["persona", "touchpoint", "estimate"]], on=["persona", "touchpoint"])
    n_cells = len(sample_study.journey.touchpoints) * len(sample_study.journey.personas)
    assert len(m) == n_cells
    np.testing.assert_allclose(m["estimate_c"], m["estimate_s"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(m["estimate"], m["estimate_s"], rtol=1e-12, atol=0)
    assert set(curves["weighting"]) == {"rake"}


# ---------------------------------------------------------------------------------------------
# prepared evidence
# ---------------------------------------------------------------------------------------------
def test_prepare_is_built_once_per_configuration(sample_study):
    ev = pr.prepare(sample_study)
    assert pr.prepare(sample_study) is ev
    assert ev.with_options(weight="default") is ev
    other = ev.with_options(weight=None)
    assert other is not ev and other.weighting.rule == "none"
    assert ev.weighting.rule == "rake"  # the first state is unchanged
    assert pr.prepare(other) is other
    with pytest.raises(pr.StudyError, match="loaded study"):
        pr.prepare(sample_study.responses)
    assert "Evidence(" in repr(ev) and "<table" in ev._repr_html_()


def test_prepared_excerpts_are_scrubbed_and_pseudonymised(sample_study):
    raw = pr.qual.read_excerpts(sample_study)
    ex = pr.prepare(sample_study).excerpts
    assert len(ex) == len(raw)
    assert not ex["participant"].isin(raw["participant"]).any()
    assert ex["participant"].str.startswith("P-").all()
    assert ex["participant"].nunique() == raw["participant"].nunique()
    shown = " ".join(ex["text"].astype(str))
    assert "@" not in shown
    assert not pd.Series(ex["text"]).str.contains(r"\b0\d(?:[ .]?\d\d){4}\b", regex=True).any()


def _small_study(tmp_path) -> Path:
    return pr.sample.make_sample(tmp_path / "small", seed=3, n_customers=1500, n_prospects=700,
                                 n_respondents=400, overwrite=True)


def test_report_reads_and_cleans_the_event_log_once(tmp_path):
    folder = _small_study(tmp_path)
    before = dict(_audit.CALLS)
    res = pr.report.build_report(folder, tmp_path / "out", n_boot=60, progress=False)
    calls = {k: _audit.CALLS[k] - before.get(k, 0) for k in ("read_events", "clean")}
    assert calls == {"read_events": 1, "clean": 1}, calls
    assert res.missing == []


# ---------------------------------------------------------------------------------------------
# notebooks, report and workshop app: the same numbers
# ---------------------------------------------------------------------------------------------
_PROBE = """
import json as _json
from parcours_research.traces import _audit as _a
print("PROBE" + _json.dumps({"calls": dict(_a.CALLS), "values": {k: v for k, v in {
    "curve": (curves.query("persona == 'senior' and touchpoint == 'id_verification'")
              [["estimate", "ci_low", "ci_high"]].iloc[0].tolist() if "curves" in dir() else None),
    "confirmed": (sorted(map(list, zip(tri.confirmed["touchpoint"], tri.confirmed["persona"])))
                  if "tri" in dir() else None),
    "funnel": (funnel.sort_values(["persona", "step_index"])["converted"].tolist()
               if "funnel" in dir() else None),
    "pyramid": (pyramid.sort_values(["persona", "stage_order"])["reached"].fillna(-1).tolist()
                if "pyramid" in dir() else None),
    "scores": (overall.sort_values("touchpoint")["estimate"].tolist()
               if "overall" in dir() else None),
    "explorer_curve": (explorer.curves().query("persona == 'senior' and touchpoint == 'id_verification'")
                       [["estimate", "ci_low", "ci_high"]].iloc[0].tolist()
                       if "explorer" in dir() else None),
    "explorer_confirmed": (sorted(map(list, zip(*[explorer.friction_table().query("confirmed")[c]
                                                  for c in ("touchpoint", "persona")])))
                           if "explorer" in dir() else None),
}.items() if v is not None}}))
"""


def _run_notebook(name: str, tmp_path: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(params + 1, nbformat.v4.new_code_cell(f"study_dir = {str(SAMPLE)!r}"))
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    return json.loads(out.split("PROBE", 1)[1])


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    pr.report.build_report(SAMPLE, out, progress=False)
    return out / "tables"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["02_traces.ipynb", "03_weighting_importance.ipynb",
                                  "05_friction.ipynb", "06_journey_curves.ipynb", "07_workshop.ipynb"])
def test_notebooks_read_once_and_agree_with_the_report(name, tmp_path, sample_report):
    probe = _run_notebook(name, tmp_path)
    calls = probe["calls"]
    # 02 also shows a sensitivity analysis (a second configuration: cleaned twice, from the one
    # log read); 03 reads no traces
    configurations = {"02_traces.ipynb": 2, "03_weighting_importance.ipynb": 0}.get(name, 1)
    assert calls.get("read_events", 0) == min(configurations, 1), calls
    assert calls.get("clean", 0) == configurations, calls
    values = probe["values"]
    expected = {  # what each notebook computes and the report shows too: all must be compared
        "02_traces.ipynb": {"funnel", "pyramid"},
        "03_weighting_importance.ipynb": {"scores"},
        "05_friction.ipynb": {"confirmed"},
        "06_journey_curves.ipynb": {"curve"},
        "07_workshop.ipynb": {"explorer_curve", "explorer_confirmed"},
    }[name]
    assert expected <= set(values), f"the probe found only {sorted(values)}"
    curves = pd.read_csv(sample_report / "journey_curves.csv")
    row = curves.query("persona == 'senior' and touchpoint == 'id_verification'")
    report_curve = row[["estimate", "ci_low", "ci_high"]].iloc[0].tolist()
    summary = pd.read_csv(sample_report / "friction_summary.csv")
    report_confirmed = sorted(map(list, zip(*[summary.query("confirmed")[c]
                                              for c in ("touchpoint", "persona")])))
    for key in ("curve", "explorer_curve"):
        if key in values:
            np.testing.assert_allclose(values[key], report_curve, rtol=1e-12)
    for key in ("confirmed", "explorer_confirmed"):
        if key in values:
            assert values[key] == report_confirmed
    if "scores" in values:
        scores = pd.read_csv(sample_report / "scores_touchpoint.csv").sort_values("touchpoint")
        np.testing.assert_allclose(values["scores"], scores["estimate"].to_numpy(), rtol=1e-12)
    if "funnel" in values:
        funnel = pd.read_csv(sample_report / "funnel.csv").sort_values(["persona", "step_index"])
        assert values["funnel"] == funnel["converted"].tolist()
    if "pyramid" in values:
        pyr = pd.read_csv(sample_report / "pyramid.csv").sort_values(["persona", "stage_order"])
        assert values["pyramid"] == pyr["reached"].fillna(-1).tolist()


def test_the_readme_code_runs_and_shows_the_prepared_numbers(monkeypatch):
    """The README's "In code" block runs as written, on the sample, with one read and clean."""
    import matplotlib

    matplotlib.use("Agg")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```python", text.index("In code, the same analyses")) + len("```python")
    code = text[start:text.index("```", start)]
    monkeypatch.chdir(ROOT)
    before = dict(_audit.CALLS)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert {k: _audit.CALLS[k] - before.get(k, 0) for k in ("read_events", "clean")} == {
        "read_events": 1, "clean": 1}
    m = scope["scores"].merge(scope["curves"], on=["persona", "touchpoint"], suffixes=("", "_c"))
    np.testing.assert_allclose(m["estimate_c"], m["estimate"], rtol=1e-12)
    assert not scope["friction"].confirmed.empty


def test_two_threads_asking_at_once_read_the_log_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    study = pr.load_study(_small_study(tmp_path))
    before = dict(_audit.CALLS)
    ev = pr.prepare(study)
    with ThreadPoolExecutor(max_workers=2) as ex:
        got = list(ex.map(lambda _: ev.traces, range(2)))
    assert got[0] is got[1]
    assert _audit.CALLS["read_events"] - before.get("read_events", 0) == 1
