"""One name per concept across the public API (issue 14, "One vocabulary").

The conventions (notes in ``parcours_research/_compat.py`` and the CHANGELOG):

* a confidence level is ``confidence=`` (never ``level``, ``conf``, ``level_ci``,
  ``confidence_level`` nor ``alpha``; ``alpha`` is only ever a significance level, 0.05);
* grouping columns are ``by=``; the grain of a curve (touchpoint or stage) is ``grain=``; the
  level of measurement is ``scale_level=`` and the multiple-comparison family ``family=``: the
  word ``level`` alone names nothing;
* survey weights are ``weight=`` (a column or a rule);
* in ``pr.traces.transitions`` / ``variants`` the node type is ``node=`` (``by`` groups);
* options after the data argument are keyword-only.

The first tests walk the signatures of every public function of ``pr.traces``,
``pr.weighting``, ``pr.satisfaction``, ``pr.friction``, ``pr.curves``, ``pr.qual`` and
``pr.plot`` (and their public submodules). The old spellings still work for one release with a
FutureWarning: the last tests check that each one warns and gives the same result as the new
spelling.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import numpy as np
import pandas as pd
import pytest
from traces_fixtures import awkward_log

import parcours_research as pr
from parcours_research._compat import deprecated_args
from parcours_research._inputs import is_evidence, is_study, study_of

MODULES = ("traces", "weighting", "satisfaction", "friction", "curves", "qual", "plot")

#: Parameter names that must not appear, and what to write instead.
BANNED = {
    "level": "confidence= (a confidence level), grain= (touchpoint/stage), scale_level= "
    "(level of measurement) or family=",
    "conf": "confidence=",
    "level_ci": "confidence=",
    "confidence_level": "confidence=",
    "ci_level": "confidence=",
    "group_by": "by=",
    "groupby": "by=",
    "grouping": "by=",
}

# Banned names still present in modules this helper does not own, each listed in
# notes/vocabulary.md ("for the lead"). Remove an entry when its rename lands (the test below
# fails on an entry that is no longer needed, so the list cannot go stale).
PENDING_RENAMES = {
}

# Options (parameters with a default) that may stay positional after the data argument.
KEEP_POSITIONAL = {
    # README: pr.satisfaction.scores(study.ratings_long(), "score", by="persona")
    ("satisfaction.scores", "score"),
    # the margins are raking's second input (README: rake(study); tests: rake(df, margins))
    ("weighting.rake", "margins"),
    # second inputs, not options: what to map, join, read or draw with
    ("traces.map_touchpoints", "journey_or_mapping"),
    ("traces.stitch", "identity_map"),
    ("friction.customer_paths", "journey"),
    ("friction.test", "source"),
    ("friction.test_paths", "paths"),
    ("qual.read_excerpts", "code_map"),
    ("qual.read_qdpx", "code_map"),
    ("plot.valence_curve", "valence"),
}
# Options still positional in modules this helper does not own (notes/vocabulary.md, "for the
# lead"): make them keyword-only (with deprecated_args(positional=...)) and remove the entry.
PENDING_KEYWORD_ONLY: set = set()

#: The deprecated aliases, explicitly: {function: {old keyword: new keyword}}. Each is tested
#: below (it warns and gives the same result); they go in the release after next.
DEPRECATED_KEYWORDS = {
    "satisfaction.scores": {"level": "confidence"},
    "satisfaction.drivers": {"level": "confidence"},
    "satisfaction.penalty_reward": {"level": "confidence"},
    "qual.agreement": {"level": "scale_level"},
    "qual.krippendorff_alpha": {"level": "scale_level"},
    "traces.transitions": {"by": "node"},
    "traces.variants": {"by": "node"},
    "curves.journey_curves": {"level": "grain", "level_ci": "confidence"},
    "curves.sup_t_critical": {"level": "confidence"},
    "friction.test_traces": {"conf": "confidence"},
    "friction.test_survey": {"conf": "confidence"},
    "friction.test_qual": {"conf": "confidence"},
    "friction.test_paths": {"conf": "confidence"},
    "curves.bonferroni_critical": {"level": "confidence"},
    "plot.journey_curves": {"effect_format": "friction_format"},
}
#: Options that became keyword-only and may still be passed by position for one release.
DEPRECATED_POSITIONAL = {
    "satisfaction.to_long": ("columns",),
    "satisfaction.importance_performance": ("targets",),
    "curves.sup_t_critical": ("estimates", "confidence"),
    "traces.attach": ("on", "key", "columns"),
    "traces.sessionize": ("gap",),
    "traces.read_events": ("format", "columns", "timezone"),
    "traces.read_identity_map": ("device_column", "customer_column"),
    "traces.stitch": ("login_events",),
    "traces.time_to_step": ("by", "start", "end"),
    "curves.bonferroni_critical": ("confidence", "df"),
    "qual.krippendorff_alpha": ("scale_level",),
    "qual.code_frequencies": ("by",),
    "qual.mean_valence": ("by",),
    "qual.quotes": ("touchpoint", "persona", "n", "valence"),
    "qual.coding.cluster_mean": ("confidence",),
    "friction.correct": ("correction", "alpha", "family"),
    "traces.funnel": ("steps", "window", "order", "by", "exclude", "optional", "per_user", "on"),
    "traces.transitions": ("node", "within", "gap"),
    "traces.variants": ("top", "node", "within", "gap"),
    "plot.save": ("formats", "dpi"),
}


def _modules():
    for name in MODULES:
        mod = importlib.import_module(f"parcours_research.{name}")
        yield name, mod, True
        for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
            if not info.name.startswith("_"):
                sub = importlib.import_module(f"parcours_research.{name}.{info.name}")
                yield f"{name}.{info.name}", sub, False


def _public():
    """``(qualified name, object, top level?)`` of every public callable, each object once."""
    seen = set()
    out = []
    for mod_name, mod, top in _modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not callable(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            out.append((f"{mod_name}.{name}", obj, top))
    return out


PUBLIC = _public()


def _signature(obj):
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return None


def test_the_walk_sees_the_api():
    names = {name for name, _, _ in PUBLIC}
    for expected in (
        "traces.funnel",
        "traces.funnel_users",
        "weighting.rake",
        "satisfaction.scores",
        "friction.triangulate",
        "curves.journey_curves",
        "qual.agreement",
        "plot.journey_curves",
    ):
        assert expected in names


def _banned_uses():
    found = {}
    for name, obj, _ in PUBLIC:
        sig = _signature(obj)
        if sig is None:
            continue
        for i, p in enumerate(sig.parameters.values()):
            why = BANNED.get(p.name)
            if p.name == "alpha" and isinstance(p.default, float) and p.default > 0.5:
                why = "confidence= (alpha is a significance level, e.g. 0.05)"
            if p.name == "weights" and i > 0 and not inspect.isclass(obj):
                why = "weight="
            if why:
                found[(name, p.name)] = why
    return found


def test_no_banned_names_for_a_concept():
    found = _banned_uses()
    unexpected = {k: v for k, v in found.items() if k not in PENDING_RENAMES}
    assert not unexpected, "\n".join(f"{f}({p}=...): write {w}" for (f, p), w in unexpected.items())


def test_pending_renames_are_still_needed():
    done = set(PENDING_RENAMES) - set(_banned_uses())
    assert not done, f"renamed already: remove {sorted(done)} from PENDING_RENAMES"


def _positional_options():
    found = set()
    for name, obj, top in PUBLIC:
        sig = _signature(obj)
        if not top or sig is None or not inspect.isfunction(inspect.unwrap(obj)):
            continue
        for p in list(sig.parameters.values())[1:]:
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty:
                found.add((name, p.name))
    return found


def test_options_after_the_data_are_keyword_only():
    loose = _positional_options() - KEEP_POSITIONAL - PENDING_KEYWORD_ONLY
    assert not loose, f"make these keyword-only (def f(data, *, ...)): {sorted(loose)}"
    stale = PENDING_KEYWORD_ONLY - _positional_options()
    assert not stale, f"keyword-only already: remove {sorted(stale)} from PENDING_KEYWORD_ONLY"


def test_deprecated_aliases_are_the_listed_ones():
    renamed, positional = {}, {}
    for name, obj, _ in PUBLIC:
        dep = getattr(obj, "__deprecated_args__", None)
        if dep and dep["renamed"]:
            renamed[name] = dep["renamed"]
        if dep and dep["positional"]:
            positional[name] = dep["positional"]
    assert renamed == DEPRECATED_KEYWORDS
    assert positional == DEPRECATED_POSITIONAL
    # every alias has an equivalence case below
    covered = {case[0] for case in CASES}
    listed = set(DEPRECATED_KEYWORDS) | set(DEPRECATED_POSITIONAL)
    assert listed <= covered, sorted(listed - covered)


# ---------------------------------------------------------------------------------------------
# the old spellings warn and give the same result
# ---------------------------------------------------------------------------------------------
def _ratings():
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame(
        {
            "respondent_id": np.repeat(np.arange(n // 2), 2),
            "touchpoint": np.tile(["a", "b"], n // 2),
            "persona": np.repeat(rng.choice(["p", "q"], n // 2), 2),
            "score": rng.integers(1, 6, n).astype(float),
        }
    )


def _wide():
    rng = np.random.default_rng(4)
    n = 120
    d = pd.DataFrame({f"sat_{k}": rng.integers(1, 6, n).astype(float) for k in "abc"})
    d["respondent_id"] = np.arange(n)
    d["overall"] = d[["sat_a", "sat_b", "sat_c"]].mean(axis=1) + rng.normal(0, 0.5, n)
    return d


def _excerpts():
    """Eight excerpts, one coder."""
    return pd.DataFrame(
        {
            "excerpt_id": [f"e{i}" for i in range(8)],
            "participant": ["P1", "P1", "P2", "P2", "P3", "P3", "P4", "P4"],
            "coder": "A",
            "code": ["wait", "price", "wait", "wait", "price", "wait", "wait", "price"],
            "touchpoint": ["t1", "t1", "t1", "t2", "t2", "t2", "t1", "t2"],
            "persona": ["x", "x", "y", "y", "x", "x", "y", "y"],
            "valence": [-2.0, -1.0, 1.0, -2.0, 0.0, 2.0, -1.0, -2.0],
            "text": [f"a quote long enough to be shown, number {i}" for i in range(8)],
        }
    )


def _two_coders():
    """The excerpts coded twice; coder B shifts two valences by one."""
    a = _excerpts()
    b = a.assign(coder="B", valence=a["valence"] + np.where(a.index < 2, 1.0, 0.0))
    return pd.concat([a, b], ignore_index=True)


def _reliability():
    nan = np.nan
    return np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5],
        ]
    )


def _tests_table():
    return pd.DataFrame(
        {
            "p_value": [0.01, 0.02, 0.2, 0.04],
            "family": ["f", "f", "g", "g"],
            "source": "s",
            "test": "t",
        }
    )


def _events():
    return awkward_log(2, n_users=20)


def _touchpoint_events():
    df = _events()
    return pr.traces.map_touchpoints(df, {"web": ["a", "b"], "app": ["c", "d"]})


def _people():
    users = _events()["user_id"].dropna().unique()
    return pd.DataFrame({"customer_id": users, "segment": ["s"] * len(users)})


def _events_csv(tmp_path):
    path = tmp_path / "events.csv"
    if not path.exists():
        _events().drop(columns=["row_id"], errors="ignore").to_csv(path, index=False)
    return path


def _identity_csv(tmp_path):
    path = tmp_path / "identity.csv"
    pd.DataFrame({"dev": ["d1", "d2"], "cust": ["c1", "c1"]}).to_csv(path, index=False)
    return path


def _save(tmp_path, name, **kw):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    paths = pr.plot.save(fig, tmp_path / name, **kw) if kw else None
    return fig, paths


# (function, what changed, old call, new call); each call gets tmp_path (and sample_study)
def _counts():
    return pd.DataFrame({"step": ["a→b", "a→b"], "touchpoint": ["b", "b"], "persona": ["p", "q"],
                         "n": [50, 60], "k": [20, 40], "target": [0.5, 0.5]})


def _survey_frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)],
                         "persona": np.where(np.arange(n) % 2, "p", "q"),
                         "sat_a": rng.integers(1, 6, n).astype(float),
                         "sat_b": rng.integers(1, 6, n).astype(float)})


def _excerpt_frame():
    n = 40
    return pd.DataFrame({"excerpt_id": [f"e{i}" for i in range(n)],
                         "participant": [f"u{i % 10}" for i in range(n)],
                         "persona": np.where(np.arange(n) % 10 < 5, "p", "q"),
                         "touchpoint": np.where(np.arange(n) % 4 < 2, "a", "b"),
                         "valence": (np.arange(n) % 5) - 2.0})


def _paths_frame():
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "overall_sat": rng.integers(1, 6, n).astype(float)})


def _paths_table():
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)], "kind": "variant",
                         "value": np.where(np.arange(40) % 2, "a > b", "a > c")})


CASES = [
    (
        "traces.sessionize",
        "positional",
        lambda **_: pr.traces.sessionize(_events(), "5min"),
        lambda **_: pr.traces.sessionize(_events(), gap="5min"),
    ),
    (
        "traces.attach",
        "positional",
        lambda **_: pr.traces.attach(_events(), _people(), "user_id", "customer_id"),
        lambda **_: pr.traces.attach(_events(), _people(), on="user_id", key="customer_id"),
    ),
    (
        "traces.stitch",
        "positional",
        lambda **_: pr.traces.stitch(_events(), None, False)[0],
        lambda **_: pr.traces.stitch(_events(), None, login_events=False)[0],
    ),
    (
        "traces.time_to_step",
        "positional",
        lambda **_: pr.traces.time_to_step(_events(), "c", None, "a").summary,
        lambda **_: pr.traces.time_to_step(_events(), "c", start="a").summary,
    ),
    (
        "traces.read_events",
        "positional",
        lambda tmp_path, **_: pr.traces.read_events(_events_csv(tmp_path), "csv").to_pandas(),
        lambda tmp_path, **_: pr.traces.read_events(_events_csv(tmp_path), format="csv").to_pandas(),
    ),
    (
        "traces.read_identity_map",
        "positional",
        lambda tmp_path, **_: pr.traces.read_identity_map(_identity_csv(tmp_path), "dev", "cust"),
        lambda tmp_path, **_: pr.traces.read_identity_map(
            _identity_csv(tmp_path), device_column="dev", customer_column="cust"),
    ),
    (
        "friction.test_traces",
        "conf=",
        lambda **_: pr.friction.test_traces(_counts(), conf=0.9),
        lambda **_: pr.friction.test_traces(_counts(), confidence=0.9),
    ),
    (
        "friction.test_survey",
        "conf=",
        lambda **_: pr.friction.test_survey(_survey_frame(), tests=["vs_journey"], conf=0.9),
        lambda **_: pr.friction.test_survey(_survey_frame(), tests=["vs_journey"], confidence=0.9),
    ),
    (
        "friction.test_qual",
        "conf=",
        lambda **_: pr.friction.test_qual(_excerpt_frame(), conf=0.9),
        lambda **_: pr.friction.test_qual(_excerpt_frame(), confidence=0.9),
    ),
    (
        "friction.test_paths",
        "conf=",
        lambda **_: pr.friction.test_paths(_paths_frame(), _paths_table(), outcomes=["overall_sat"],
                                           nps=(), min_n=2, conf=0.9),
        lambda **_: pr.friction.test_paths(_paths_frame(), _paths_table(), outcomes=["overall_sat"],
                                           nps=(), min_n=2, confidence=0.9),
    ),
    (
        "curves.sup_t_critical",
        "level=",
        lambda **_: pr.curves.sup_t_critical(np.eye(5)[:, :3] + 0.5, level=0.9),
        lambda **_: pr.curves.sup_t_critical(np.eye(5)[:, :3] + 0.5, confidence=0.9),
    ),
    (
        "curves.sup_t_critical",
        "by position",
        lambda **_: pr.curves.sup_t_critical(np.eye(5)[:, :3] + 0.5, None, 0.9),
        lambda **_: pr.curves.sup_t_critical(np.eye(5)[:, :3] + 0.5, confidence=0.9),
    ),
    (
        "curves.bonferroni_critical",
        "level=",
        lambda **_: pr.curves.bonferroni_critical(10, level=0.9),
        lambda **_: pr.curves.bonferroni_critical(10, confidence=0.9),
    ),
    (
        "curves.bonferroni_critical",
        "by position",
        lambda **_: pr.curves.bonferroni_critical(10, 0.9, 30),
        lambda **_: pr.curves.bonferroni_critical(10, confidence=0.9, df=30),
    ),
    (
        "satisfaction.scores",
        "level=",
        lambda **_: pr.satisfaction.scores(_ratings(), level=0.9),
        lambda **_: pr.satisfaction.scores(_ratings(), confidence=0.9),
    ),
    (
        "satisfaction.drivers",
        "level=",
        lambda **_: (
            pr.satisfaction.drivers(
                _wide(), "overall", ["sat_a", "sat_b", "sat_c"], n_boot=20, level=0.8
            ).summary
        ),
        lambda **_: (
            pr.satisfaction.drivers(
                _wide(), "overall", ["sat_a", "sat_b", "sat_c"], n_boot=20, confidence=0.8
            ).summary
        ),
    ),
    (
        "satisfaction.DriverResult",
        ".level",
        lambda **_: pr.satisfaction.drivers(_wide(), "overall", ["sat_a"], n_boot=0).level,
        lambda **_: pr.satisfaction.drivers(_wide(), "overall", ["sat_a"], n_boot=0).confidence,
    ),
    (
        "satisfaction.penalty_reward",
        "level=",
        lambda **_: pr.satisfaction.penalty_reward(
            _wide(), "overall", ["sat_a", "sat_b"], level=0.9
        ),
        lambda **_: pr.satisfaction.penalty_reward(
            _wide(), "overall", ["sat_a", "sat_b"], confidence=0.9
        ),
    ),
    (
        "satisfaction.to_long",
        "positional",
        lambda **_: pr.satisfaction.to_long(_wide(), {"a": "sat_a", "b": "sat_b"}),
        lambda **_: pr.satisfaction.to_long(_wide(), columns={"a": "sat_a", "b": "sat_b"}),
    ),
    (
        "satisfaction.importance_performance",
        "positional",
        lambda **_: pr.satisfaction.importance_performance(
            pd.DataFrame({"driver": ["a", "b"], "importance": [0.3, 0.1]}),
            pd.DataFrame({"touchpoint": ["a", "b"], "estimate": [3.0, 4.5]}),
            {"a": 4.0, "b": 4.0},
        ),
        lambda **_: pr.satisfaction.importance_performance(
            pd.DataFrame({"driver": ["a", "b"], "importance": [0.3, 0.1]}),
            pd.DataFrame({"touchpoint": ["a", "b"], "estimate": [3.0, 4.5]}),
            targets={"a": 4.0, "b": 4.0},
        ),
    ),
    (
        "qual.agreement",
        "level=",
        lambda **_: pr.qual.agreement(_two_coders(), level="interval").summary,
        lambda **_: pr.qual.agreement(_two_coders(), scale_level="interval").summary,
    ),
    (
        "qual.krippendorff_alpha",
        "level=",
        lambda **_: pr.qual.krippendorff_alpha(_reliability(), level="ordinal"),
        lambda **_: pr.qual.krippendorff_alpha(_reliability(), scale_level="ordinal"),
    ),
    (
        "qual.krippendorff_alpha",
        "positional",
        lambda **_: pr.qual.krippendorff_alpha(_reliability(), "interval"),
        lambda **_: pr.qual.krippendorff_alpha(_reliability(), scale_level="interval"),
    ),
    (
        "qual.code_frequencies",
        "positional",
        lambda **_: pr.qual.code_frequencies(_excerpts(), "persona"),
        lambda **_: pr.qual.code_frequencies(_excerpts(), by="persona"),
    ),
    (
        "qual.mean_valence",
        "positional",
        lambda **_: pr.qual.mean_valence(_excerpts(), "touchpoint"),
        lambda **_: pr.qual.mean_valence(_excerpts(), by="touchpoint"),
    ),
    (
        "qual.quotes",
        "positional",
        lambda **_: pr.qual.quotes(_excerpts(), "t1", None, 2, "negative", scrub=False),
        lambda **_: pr.qual.quotes(
            _excerpts(), touchpoint="t1", persona=None, n=2, valence="negative", scrub=False
        ),
    ),
    (
        "qual.coding.cluster_mean",
        "positional",
        lambda **_: pr.qual.coding.cluster_mean([1, 2, 4, 8], ["a", "a", "b", "c"], 0.9),
        lambda **_: pr.qual.coding.cluster_mean([1, 2, 4, 8], ["a", "a", "b", "c"], confidence=0.9),
    ),
    (
        "friction.correct",
        "positional",
        lambda **_: pr.friction.correct(_tests_table(), "holm", 0.1),
        lambda **_: pr.friction.correct(_tests_table(), correction="holm", alpha=0.1),
    ),
    (
        "traces.funnel",
        "positional",
        lambda **_: pr.traces.funnel(_events(), ["a", "b", "c"], "10min"),
        lambda **_: pr.traces.funnel(_events(), steps=["a", "b", "c"], window="10min"),
    ),
    (
        "traces.funnel",
        "per_user=True",
        lambda **_: pr.traces.funnel(_events(), steps=["a", "b"], window="5min", per_user=True),
        lambda **_: pr.traces.funnel_users(_events(), steps=["a", "b"], window="5min"),
    ),
    (
        "traces.transitions",
        "by=",
        lambda **_: pr.traces.transitions(_touchpoint_events(), by="touchpoint", gap="5min"),
        lambda **_: pr.traces.transitions(_touchpoint_events(), node="touchpoint", gap="5min"),
    ),
    (
        "traces.transitions",
        "positional",
        lambda **_: pr.traces.transitions(_touchpoint_events(), "touchpoint", "user"),
        lambda **_: pr.traces.transitions(_touchpoint_events(), node="touchpoint", within="user"),
    ),
    (
        "traces.variants",
        "by=",
        lambda **_: pr.traces.variants(_touchpoint_events(), by="touchpoint", within="user"),
        lambda **_: pr.traces.variants(_touchpoint_events(), node="touchpoint", within="user"),
    ),
    (
        "traces.variants",
        "positional",
        lambda **_: pr.traces.variants(_events(), 3, "event", "user"),
        lambda **_: pr.traces.variants(_events(), top=3, node="event", within="user"),
    ),
    (
        "plot.save",
        "positional",
        lambda tmp_path, **_: [
            p.name for p in pr.plot.save(_save(tmp_path, "x")[0], tmp_path / "old", ("svg",), 50)
        ],
        lambda tmp_path, **_: [
            p.name
            for p in pr.plot.save(
                _save(tmp_path, "x")[0], tmp_path / "old", formats=("svg",), dpi=50
            )
        ],
    ),
    (
        "plot.journey_curves",
        "effect_format=",
        lambda sample_study, **_: _friction_labels(sample_study, effect_format="{gap:+.2f}"),
        lambda sample_study, **_: _friction_labels(sample_study, friction_format="{gap:+.2f}"),
    ),
    (
        "curves.journey_curves",
        "level=, level_ci=",
        lambda sample_study, **_: pr.curves.journey_curves(
            sample_study, level="stage", level_ci=0.9, qual=False
        ),
        lambda sample_study, **_: pr.curves.journey_curves(
            sample_study, grain="stage", confidence=0.9, qual=False
        ),
    ),
]


def _friction_labels(study, **fmt):
    import matplotlib.pyplot as plt

    table = pr.curves.journey_curves(study, qual=False)
    first = table.iloc[0]
    friction = pd.DataFrame(
        {
            "touchpoint": [first["touchpoint"]],
            "persona": [first["persona"]],
            "effect_size": [-0.3],
            "significant": [True],
        }
    )
    fig = pr.plot.journey_curves(table, friction=friction, **fmt)
    texts = sorted(
        t.get_text()
        for t in fig.findobj()
        if str(getattr(t, "get_gid", lambda: "")() or "").startswith("friction_label")
    )
    plt.close(fig)
    assert texts, "no friction label drawn: the comparison would be empty"
    return texts


def _same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_equal(a[k], b[k])
    else:
        np.testing.assert_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_old_spelling_warns_and_gives_the_same_result(case, tmp_path, request):
    name, what, old, new = case
    kw = {"tmp_path": tmp_path}
    if name.endswith(".journey_curves"):
        kw["sample_study"] = request.getfixturevalue("sample_study")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new spelling does not warn
        expected = new(**kw)
    with pytest.warns(FutureWarning) as record:
        got = old(**kw)
    messages = " ".join(str(w.message) for w in record if w.category is FutureWarning)
    assert "deprecated" in messages and "release" in messages
    # the warning points at the caller (this file), not at the package
    assert any(w.filename == __file__ for w in record if w.category is FutureWarning)
    _same(got, expected)


def test_deprecated_constants_warn():
    correction = importlib.import_module("parcours_research.friction.correction")
    agreement = importlib.import_module("parcours_research.qual.agreement")

    with pytest.warns(FutureWarning, match="SCALE_LEVELS"):
        assert agreement.LEVELS == agreement.SCALE_LEVELS
    with pytest.warns(FutureWarning, match="FAMILIES"):
        assert correction.FAMILY_LEVELS == correction.FAMILIES


def test_the_warning_names_the_new_spelling():
    with pytest.warns(
        FutureWarning, match=r"pr\.satisfaction\.scores\(\): level= is deprecated; use confidence="
    ):
        pr.satisfaction.scores(_ratings(), level=0.9)
    with pytest.warns(FutureWarning, match=r"pr\.traces\.funnel_users"):
        pr.traces.funnel(_events(), steps=["a", "b"], per_user=True)
    with pytest.warns(FutureWarning, match=r"write steps=\.\.\., window=\.\.\."):
        pr.traces.funnel(_events(), ["a", "b"], "10min")


def test_old_and_new_spelling_together_is_an_error():
    with pytest.raises(TypeError, match="both level= .* and confidence="):
        pr.satisfaction.scores(_ratings(), level=0.9, confidence=0.9)
    with pytest.raises(TypeError, match="multiple values for argument 'steps'"):
        pr.traces.funnel(_events(), ["a"], steps=["a"])
    with pytest.raises(TypeError, match="positional argument"):
        pr.plot.save(None, "x", ("svg",), 50, "extra")


def test_deprecated_args_refuses_a_wrong_declaration():
    with pytest.raises(TypeError, match="must have 'confidence'"):

        @deprecated_args(renamed={"level": "confidence"})
        def f(data, *, level=0.95):  # pragma: no cover - never called
            return level

    with pytest.raises(TypeError, match="not keyword-only"):

        @deprecated_args(positional=("confidence",))
        def g(data, confidence=0.95):  # pragma: no cover - never called
            return confidence


def test_signatures_show_only_the_new_names():
    sig = inspect.signature(pr.satisfaction.scores)
    assert "confidence" in sig.parameters and "level" not in sig.parameters
    sig = inspect.signature(pr.traces.transitions)
    assert list(sig.parameters) == ["events", "node", "within", "gap"]
    assert sig.parameters["node"].kind is inspect.Parameter.KEYWORD_ONLY


# ---------------------------------------------------------------------------------------------
# one test of "is this a study?"
# ---------------------------------------------------------------------------------------------
def test_is_study(sample_study):
    assert is_study(sample_study) and study_of(sample_study) is sample_study
    for other in (
        None,
        sample_study.responses,
        sample_study.journey,
        {"journey": 1},
        "data/sample",
    ):
        assert not is_study(other) and study_of(other) is None and not is_evidence(other)
    prepare = (
        getattr(pr, "prepare", None)
        or importlib.import_module("parcours_research.evidence").prepare
    )
    ev = prepare(sample_study)
    assert is_study(ev) and is_evidence(ev) and study_of(ev) is sample_study
    assert not is_evidence(sample_study)
    # a study where a table is expected: the error says which table to pass
    with pytest.raises(pr.errors.AnalysisError, match=r"pr\.prepare\(study\)\.ratings"):
        pr.satisfaction.scores(sample_study)


def test_results_of_several_tables_are_result_objects_that_still_unpack():
    events = _events()
    cleaned = pr.traces.clean(events)
    kept, log = cleaned  # the README's unpacking keeps working
    assert isinstance(cleaned, pr.traces.Cleaned) and cleaned.summary is log.summary
    assert "rows kept" in repr(cleaned) and "<table" in cleaned._repr_html_()
    stitched = pr.traces.stitch(kept, identity_map=False)
    out, conflicts = stitched
    assert isinstance(stitched, pr.traces.Stitched) and stitched.summary is conflicts
    assert "devices linked" in repr(stitched) and "<p>" in stitched._repr_html_()
    frame = _survey_frame().assign(low=lambda d: d["sat_a"] <= 2)
    r = pr.friction.rao_scott(frame, "persona", "low")
    assert set(r) == set(r.summary.columns) and len(r.summary) == 1
    assert r["p_value"] == r.summary.loc[0, "p_value"] and "RaoScott(F =" in repr(r)
