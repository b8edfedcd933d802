"""The survey tests' and scores' faster table plumbing gives exactly the tables of 0.4.2.

The reference is 0.4.2's code itself, kept below (``_old_*``): the melted ratings of the
friction tests, the persona frame handed to svy, and the domain table of ``scores``. Every
comparison is exact (values, dtypes, order), on generated data covering text, pyarrow text,
integer, boolean, float, categorical and mixed-object group columns, duplicated row labels,
missing ratings, respondents without a persona, and ``by=`` levels with strata and clusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import parcours_research as pr
import parcours_research.friction.survey as sv
import parcours_research.satisfaction as sat


# ------------------------------------------------------------------ 0.4.2's code, the reference
def _old_long(frame, r, keep):
    vals = r.to_numpy(dtype=float)
    ok = np.isfinite(vals)
    rows, cols = np.nonzero(ok)
    out = {"respondent_id": frame["respondent_id"].to_numpy()[rows]}
    for k in keep:
        out[k] = frame[k].to_numpy()[rows]
    out["touchpoint"] = np.asarray(list(r.columns), dtype=object)[cols]
    out["score"] = vals[rows, cols]
    order = np.lexsort((rows, cols))
    return pd.DataFrame({k: v[order] for k, v in out.items()})


def _old_long_scores(r):
    vals = r.to_numpy(dtype=float)
    rows, cols = np.nonzero(np.isfinite(vals))
    return vals[rows, cols][np.lexsort((rows, cols))]


def _old_persona_frame(frame, ratings, personas, cut):
    tps = list(ratings.columns)
    f = frame.copy()
    y_cols = [f"__y{i}" for i in range(len(tps))]
    d_cols = [f"__d{i}" for i in range(len(tps))]
    k_cols = [f"__k{i}" for i in range(len(tps))]
    tp_of = {}
    for i, tp in enumerate(tps):
        y = ratings[tp].to_numpy()
        f[y_cols[i]] = y
        f[d_cols[i]] = np.where(np.isfinite(y), (y <= cut).astype(float), np.nan)
        f[k_cols[i]] = sv._as_text(y)
        tp_of[y_cols[i]] = tp_of[d_cols[i]] = tp
    flags = {}
    for j, p in enumerate(personas):
        flags[p] = f"__f{j}"
        f[flags[p]] = np.where(
            f["persona"] == p, sv._GROUP, np.where(f["persona"] == sv._NONE, None, sv._REST)
        )
    f = f.drop(columns=["persona", "respondent_id"])
    return sv._PersonaFrame(f, y_cols, d_cols, k_cols, tp_of, flags)


def _old_domains(used, keys, w, data, groups):
    if not keys:
        deff, neff = sat.kish(w.to_numpy())
        return pd.DataFrame({"n": [len(used)], "n_eff": [neff]})
    sq = w * w
    agg = pd.DataFrame({"n": 1, "s1": w, "s2": sq}, index=used.index)
    g = agg.groupby([used[k] for k in keys], sort=False).sum()
    g["n_eff"] = g["s1"] ** 2 / g["s2"]
    g = g.reset_index()
    orig = data.loc[used.index, groups].drop_duplicates()
    orig_keys = orig.astype(str)
    orig_keys.columns = keys
    lookup = pd.concat([orig_keys.reset_index(drop=True), orig.reset_index(drop=True)], axis=1)
    g = g.merge(lookup, on=keys, how="left")
    sort_cols, sort_keys = [], []
    for col in groups:
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            sort_cols.append(col)
            sort_keys.append(pd.Categorical(g[col], categories=data[col].cat.categories).codes)
    if sort_cols:
        order = np.lexsort(sort_keys[::-1])
        g = g.iloc[order]
    return g[[*keys, *groups, "n", "n_eff"]].reset_index(drop=True).astype({"n": int})


@pytest.fixture
def old_code(monkeypatch):
    """Run with 0.4.2's helpers in place of the new ones."""

    def use():
        monkeypatch.setattr(sv, "_long", _old_long)
        monkeypatch.setattr(sv, "_long_scores", _old_long_scores)
        monkeypatch.setattr(sv, "_persona_frame", _old_persona_frame)
        monkeypatch.setattr(sat, "_domains", _old_domains)

    return use


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# ------------------------------------------------------------------ data
def _responses(n=300, seed=0, missing=0.3, no_persona=0.1, labels=None):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "respondent_id": [f"r{i}" for i in range(n)],
            "persona": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).astype(object),
            "wave": rng.choice(["w1", "w2"], n),
            "region": rng.choice(["n", "s", "e"], n),
            "psu": [f"c{i}" for i in rng.integers(0, 40, n)],
            "weight": rng.gamma(4, 0.25, n),
        },
        index=labels if labels is not None else pd.RangeIndex(n),
    )
    d.loc[rng.random(n) < no_persona, "persona"] = None
    for tp in ("ad", "site", "shop", "call"):
        y = rng.integers(1, 6, n).astype(float)
        y[rng.random(n) < missing] = np.nan
        d[f"sat_{tp}"] = y
    return d


# ------------------------------------------------------------------ the friction tests' plumbing
@pytest.mark.parametrize("missing", [0.0, 0.3, 1.0])
def test_long_and_its_scores_are_0_4_2s(missing):
    d = _responses(missing=missing, seed=int(missing * 10))
    frame, _ = sv._clean_frame(
        d, "wave", "respondent_id", "persona", "weight", "region", "psu", None
    )
    r = d[[c for c in d.columns if c.startswith("sat_")]]
    keep = [c for c in (sv._BY, "persona", "__w", "__s", "__c") if c in frame.columns]
    new, old = sv._long(frame, r, keep), _old_long(frame, r, keep)
    if missing < 1:
        _same(new, old)
    else:  # no rating at all: both empty (the caller leaves empty blocks out)
        assert new.empty and old.empty and list(new.columns) == list(old.columns)
    assert np.array_equal(sv._long_scores(r), _old_long_scores(r), equal_nan=True)


def test_persona_frame_is_0_4_2s():
    d = _responses(labels=pd.Index(np.arange(300)[::-1] * 3))
    frame, _ = sv._clean_frame(d, None, "respondent_id", "persona", "weight", None, "psu", None)
    ratings = d[[c for c in d.columns if c.startswith("sat_")]].set_axis(
        ["ad", "site", "shop", "call"], axis=1
    )
    new = sv._persona_frame(frame, ratings, ["a", "b", "c"], 2.0)
    old = _old_persona_frame(frame, ratings, ["a", "b", "c"], 2.0)
    _same(new.frame, old.frame)
    assert (new.y_cols, new.d_cols, new.k_cols, new.tp_of, new.flags) == (
        old.y_cols,
        old.d_cols,
        old.k_cols,
        old.tp_of,
        old.flags,
    )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"by": "wave", "strata": "region", "cluster": "psu"},
        {"cluster": "psu", "weight": None},
    ],
)
def test_test_survey_is_0_4_2s(kw, old_code):
    d = _responses(seed=5)
    args = {"weight": "weight", "targets": {"ad": 3.5, "shop": 3.0}, **kw}
    new = pr.friction.test_survey(d, **args)
    old_code()
    _same(new, pr.friction.test_survey(d, **args))


# ------------------------------------------------------------------ scores' domain table
def _ratings(n=400, seed=1, labels=None):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "rid": rng.integers(0, 150, n),
            "tp": rng.choice(["x", "y", "z"], n),
            "score": rng.integers(1, 6, n).astype(float),
            "w": rng.gamma(3, 0.3, n),
        },
        index=labels if labels is not None else pd.RangeIndex(n),
    )
    d.loc[rng.random(n) < 0.1, "score"] = np.nan
    return d.drop_duplicates(["rid", "tp"])


def _group_columns(d, rng):
    n = len(d)
    grp = rng.choice(["b", "a", "c"], n)
    return {
        "text": pd.Series(grp, index=d.index, dtype="str"),
        "pyarrow": pd.Series(grp, index=d.index, dtype="string[pyarrow]"),
        "object": pd.Series(grp, index=d.index, dtype=object),
        "integer": pd.Series(rng.integers(0, 3, n), index=d.index),
        "boolean": pd.Series(rng.random(n) < 0.4, index=d.index),
        "float": pd.Series(rng.choice([0.0, -0.0, 1.5], n), index=d.index),
        "mixed": pd.Series(rng.choice(np.array([1, "1", "b"], dtype=object), n), index=d.index),
        "categorical": pd.Series(
            pd.Categorical(grp, categories=["c", "b", "a", "unused"]), index=d.index
        ),
        "int_categories": pd.Series(pd.Categorical(rng.integers(0, 3, n)), index=d.index),
        "n": pd.Series(grp, index=d.index, dtype="str"),
    }


@pytest.mark.parametrize("labels", ["range", "shuffled", "duplicated"])
@pytest.mark.parametrize(
    "group",
    [
        "text",
        "pyarrow",
        "object",
        "integer",
        "boolean",
        "float",
        "mixed",
        "categorical",
        "int_categories",
        "n",
    ],
)
def test_scores_domains_are_0_4_2s(group, labels, old_code):
    d = _ratings()
    n = len(d)
    index = {
        "range": pd.RangeIndex(n),
        "shuffled": pd.Index(np.random.default_rng(2).permutation(n) * 7),
        "duplicated": pd.Index(np.arange(n) // 2),
    }[labels]
    d = d.set_axis(index)
    d[group] = _group_columns(d, np.random.default_rng(3))[group].to_numpy()
    if group in ("categorical", "int_categories"):
        d[group] = _group_columns(d, np.random.default_rng(3))[group].array
    args = dict(touchpoint="tp", by=group, weight="w", respondent="rid", metric=["mean", "top2"])
    try:
        new = pr.scores(d, "score", **args)
    except Exception as exc:  # the same refusal either way
        old_code()
        with pytest.raises(type(exc)):
            pr.scores(d, "score", **args)
        return
    old_code()
    _same(new, pr.scores(d, "score", **args))


def test_study_scores_are_0_4_2s(old_code):
    study = pr.load_study(pr.datasets.sample_dir())
    new = [sat.study_scores(study), sat.study_scores(study, by="persona", metric=["mean", "nps"])]
    old_code()
    old = [sat.study_scores(study), sat.study_scores(study, by="persona", metric=["mean", "nps"])]
    for a, b in zip(new, old):
        _same(a, b)
