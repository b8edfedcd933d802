"""Issue 20 (sixth session, helper tracesec): the funnel's groups from the sorted arrays.

``funnel(by=...)`` on the DuckDB fast path used to ask the engine for each person's earliest
event with a windowed query (``_groups_sql``) and merge it with the kernels' result; it now
reads ``row_id`` and the ``by`` columns in one narrow scan and picks each person's first row
in the sorted arrays. The reference is 0.4.2's ``_reached``, kept here verbatim: the tables
must be equal to the last bit and dtype.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from traces_fixtures import awkward_log, log_on

import parcours_research as pr

F = importlib.import_module("parcours_research.traces.funnel")
STEPS = ["a", "b", "c", "d"]


def _reached_042(log, spec, by):
    """0.4.2's ``funnel._reached`` (the reference)."""
    eng = log.engine
    if not eng.fast:
        return eng.fetch(F._reached_sql(log, spec, by))
    from parcours_research.traces import _arrays
    from parcours_research.traces._frames import prime

    prime(log)
    rnames = [f"_r{k}" for k in range(1, spec.n + 1)]
    per = _arrays.funnel_reached(log, spec)
    if by:
        groups = eng.fetch(F._groups_sql(log, by))
        per = groups.merge(per, on="_p", how="left")
        per[rnames] = per[rnames].fillna(0).astype("int64")
    return per


def _both(monkeypatch, fn, df, **kw):
    """``fn`` on a fresh fast log, new code then 0.4.2's."""
    eng = pr.traces.DuckDBEngine(fast=True, threads=1)
    new = fn(log_on(df, eng), **kw)
    with monkeypatch.context() as m:
        m.setattr(F, "_reached", _reached_042)
        old = fn(log_on(df, eng), **kw)
    return new, old


def _with_groups(seed: int) -> pd.DataFrame:
    """An awkward log whose persona and channel change from event to event (so that the
    earliest event decides, ties on the timestamp broken by row order), some missing."""
    df = awkward_log(seed, n_users=60)
    rng = np.random.default_rng(seed)
    n = len(df)
    df["persona"] = pd.array(rng.choice(["p1", "p2", "p3", None], n), dtype=object)
    df["channel"] = rng.choice(["web", "app"], n)
    df["wave"] = rng.integers(1, 4, n)
    return df


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("by", ["persona", ["persona", "channel"], "wave"])
def test_funnel_groups_equal_the_sql_groups(monkeypatch, seed, by):
    df = _with_groups(seed)
    for order in ("sequential", "strict", "any"):
        kw = dict(steps=STEPS, window="10min", by=by, order=order)
        new, old = _both(monkeypatch, pr.traces.funnel, df, **kw)
        pd.testing.assert_frame_equal(new, old, check_exact=True)
        new, old = _both(monkeypatch, pr.traces.funnel_users, df, **kw)
        pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_device_only_persons_and_repeated_row_ids(monkeypatch):
    df = _with_groups(11)
    df["device_id"] = "d" + df["user_id"].str[-2:]
    df.loc[df.index % 3 == 0, "user_id"] = None  # persons known by their device
    new, old = _both(monkeypatch, pr.traces.funnel, df, steps=STEPS, window="10min", by="persona")
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    # a row_id twice: the narrow read gives up and the SQL answers
    eng = pr.traces.DuckDBEngine(fast=True, threads=1)
    log = log_on(_with_groups(12), eng)
    from parcours_research.traces import _arrays

    s = _arrays.get_sorted(log)
    s.row_id = s.row_id.copy()
    s.row_id[1] = s.row_id[0]
    assert F._first_values(log, s, ["persona"]) is None


@pytest.fixture(scope="module")
def sample_ev():
    """The sample study's prepared evidence (read-only here)."""
    return pr.prepare(pr.load_study(pr.datasets.sample_dir()))


def test_study_funnel_and_pyramid_equal(monkeypatch, sample_ev):
    """The prepared log of the sample study (cleaned, stitched, sessions, personas)."""
    ev = sample_ev
    log, by = ev.traces.log, ev.traces.by
    new = pr.traces.funnel(log, by=by)
    new_pyr = pr.traces.pyramid(ev, by=by)
    with monkeypatch.context() as m:
        m.setattr(F, "_reached", _reached_042)
        old = pr.traces.funnel(log, by=by)
        old_pyr = pr.traces.pyramid(ev, by=by)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    pd.testing.assert_frame_equal(new_pyr, old_pyr, check_exact=True)


# ---------------------------------------------------------------------------------------------
# heatmaps: seaborn's tick-overlap draw replaced by the layout alone, same files
# ---------------------------------------------------------------------------------------------
def _files(make, tmp_path, name):
    import matplotlib.pyplot as plt

    fig = make()
    out = [p.read_bytes() for p in pr.plot.save(fig, tmp_path / name)]
    plt.close(fig)
    return out


def _full_draw(monkeypatch):
    """0.4.2's figures: seaborn's draw left as it is."""
    import contextlib

    grids = importlib.import_module("parcours_research.plot.grids")
    monkeypatch.setattr(grids, "_layout_instead_of_draw", lambda fig: contextlib.nullcontext())


def _transitions_frame(n_nodes: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = [f"touchpoint_{i}" + "_long" * (i % 3) for i in range(n_nodes)]
    src, tgt = rng.choice(nodes, 4 * n_nodes), rng.choice(nodes, 4 * n_nodes)
    n = rng.integers(1, 500, len(src))
    df = pd.DataFrame({"source": src, "target": tgt, "n": n}).drop_duplicates(["source", "target"])
    df["share"] = df["n"] / df.groupby("source")["n"].transform("sum")
    return df


def _curves_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"persona": p, "touchpoint": f"tp{i}", "order": i, "gap": rng.normal(0, 0.4)}
        for p in ("alpha", "beta", "gamma")
        for i in range(7)
    ]
    df = pd.DataFrame(rows)
    df.loc[3, "gap"] = np.nan
    df["below_target"] = df["gap"] < -0.3
    return df


@pytest.mark.parametrize("case", range(3))
def test_heatmaps_write_the_same_files(monkeypatch, tmp_path, case, sample_ev):
    from parcours_research.plot.grids import gap_heatmap, transition_matrix

    study = sample_ev.study if case == 0 else None
    if case == 0:
        trans = pr.traces.transitions(sample_ev.traces.log, node="touchpoint")
    else:
        trans = _transitions_frame(4 + 5 * case, case)
    lang = ("fr", "en")[case % 2]
    value = ("share", "n")[case // 2]
    figures = {
        "tm": lambda: transition_matrix(trans, journey=study, lang=lang, value=value),
        "gap": lambda: gap_heatmap(_curves_frame(case), lang=lang),
    }
    for name, make in figures.items():
        new = _files(make, tmp_path / "new", name)
        with monkeypatch.context() as m:
            _full_draw(m)
            old = _files(make, tmp_path / "old", name)
        assert new == old, (name, case)


def test_heatmaps_are_not_rendered_while_built(monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from parcours_research.plot.grids import gap_heatmap, transition_matrix

    calls = []
    full = FigureCanvasAgg.draw
    monkeypatch.setattr(FigureCanvasAgg, "draw", lambda self: calls.append(1) or full(self))
    import matplotlib.pyplot as plt

    fig = transition_matrix(_transitions_frame(6, 0))
    other = gap_heatmap(_curves_frame(0))
    assert calls == []
    assert "draw" not in vars(fig.canvas)  # the figure draws as usual afterwards
    plt.close(fig)
    plt.close(other)


# ---------------------------------------------------------------------------------------------
# contacts: ``by`` looked up once per customer, the respondents' contacts only
# ---------------------------------------------------------------------------------------------
CC = importlib.import_module("parcours_research._contact_counts")
CP = importlib.import_module("parcours_research._contact_pressure")


def _by_042(out, customers, by, *_):
    """0.4.2's look-up of each row's ``by`` value (the reference)."""
    return out["customer_id"].map(
        customers.drop_duplicates("customer_id").set_index("customer_id")[by]
    )


def _respondent_contacts_042(ev, per_customer, outcome, by):
    """0.4.2's ``_respondent_contacts`` (the reference)."""
    st, resp, design = ev.study, ev.responses, ev.design
    rate = (
        per_customer.groupby(["customer_id", "channel"], sort=False)["contacts"]
        .mean()
        .reset_index()
    )
    in_log = pd.Index(
        pd.unique(CC._log_users(ev, st, None)["customer_id"].to_numpy(object)), dtype=object
    )
    r = pd.DataFrame(
        {
            "customer_id": resp[st.survey.customer_id].astype(str).to_numpy(),
            "y": pd.to_numeric(resp[outcome], errors="coerce").to_numpy(float),
            "w": pd.to_numeric(resp[design["weight"]], errors="coerce").to_numpy(float),
            "__by": resp[by].astype("string").to_numpy() if by else CC.ALL,
        }
    )
    if design.get("cluster"):
        r["__cluster"] = resp[design["cluster"]].astype(str).to_numpy()
    found = in_log.get_indexer(r["customer_id"].to_numpy(object)) >= 0
    keep = found & r["y"].notna() & (r["w"] > 0) & r["__by"].notna()
    return r[keep.to_numpy()].merge(rate, on="customer_id", how="inner")


def _old_contacts(m):
    m.setattr(CC, "_by_values", _by_042)
    # the reference frame, without the accounting that 0.4.2 did not have
    m.setattr(CP, "_respondent_contacts", lambda *a: (_respondent_contacts_042(*a), None))


def _customers_frame(seed):
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in rng.permutation(40)] + ["c3", "c5"]  # two ids twice
    return pd.DataFrame({"customer_id": ids, "persona": rng.choice(["p", "q", None], len(ids))})


def _contact_events(seed):
    rng = np.random.default_rng(seed)
    n = 400
    df = pd.DataFrame(
        {
            "user_id": rng.choice([f"c{i}" for i in range(50)], n),  # some not customers
            "timestamp": pd.Timestamp("2026-01-01", tz="Europe/Paris")
            + pd.to_timedelta(rng.integers(0, 95 * 24 * 60, n), unit="min"),
            "touchpoint": rng.choice(["sms_a", "sms_b", "mail", "web"], n),
            "session_id": rng.integers(0, 60, n).astype(str),
        }
    )
    return df.assign(event=df["touchpoint"])


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("period", ["study", "month", "week"])
def test_contact_counts_by_values_equal_the_map(monkeypatch, seed, period):
    ev, customers = _contact_events(seed), _customers_frame(seed)
    channels = {"sms_a": "sms", "sms_b": "sms", "mail": "email"}
    for by in (None, "persona"):
        kw = dict(channels=channels, period=period, customers=customers, by=by)
        kw |= dict(start="2026-01-01", end="2026-03-31")
        new = pr.contact.contact_counts(ev, **kw)
        with monkeypatch.context() as m:
            _old_contacts(m)
            old = pr.contact.contact_counts(ev, **kw)
        pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_study_contact_pressure_equal(monkeypatch, sample_ev):
    ev = sample_ev
    for by in ("persona", None):
        new = pr.contact.contact_pressure(ev, by=by)
        with monkeypatch.context() as m:
            _old_contacts(m)
            old = pr.contact.contact_pressure(ev, by=by)
        for name in ("summary", "zones", "counts", "per_customer"):
            if hasattr(new, name):
                pd.testing.assert_frame_equal(
                    getattr(new, name), getattr(old, name), check_exact=True
                )


# ---------------------------------------------------------------------------------------------
# channel fit: the per-channel table without the named aggregation
# ---------------------------------------------------------------------------------------------
CF = importlib.import_module("parcours_research._channel_fit")


def _channel_info_042(part):
    """0.4.2's named aggregation (the reference)."""
    return part.groupby("channel", sort=True).agg(
        respondents=("respondent_id", "nunique"),
        ratings=("y", "size"),
        touchpoints=("touchpoint", lambda t: ", ".join(sorted(set(map(str, t.unique()))))),
    )


def test_channel_info_equals_the_named_aggregation(monkeypatch, sample_ev):
    ev = sample_ev
    frame, _ = CF._fit_inputs(ev, "persona", "default")
    rng = np.random.default_rng(0)
    odd = frame.assign(touchpoint=rng.choice(["b", "a", "a, c", ""], len(frame)))
    for f in (frame, odd, frame.iloc[:0]):
        for _, part in f.groupby(["__by", "purpose"], sort=True):
            pd.testing.assert_frame_equal(
                CF._channel_info(part), _channel_info_042(part), check_exact=True
            )
    for by in ("persona", None):
        new = pr.contact.channel_fit(ev, by=by)
        with monkeypatch.context() as m:
            m.setattr(CF, "_channel_info", _channel_info_042)
            old = pr.contact.channel_fit(ev, by=by)
        pd.testing.assert_frame_equal(new.summary, old.summary, check_exact=True)
        pd.testing.assert_frame_equal(new.purposes, old.purposes, check_exact=True)
