"""The report's trace sections at a lower cost, results unchanged (issue 20, seventh session).

Each faster path is compared with the code it replaces, kept here as it was in 0.4.3 (the
exact reference): the same table to the last bit (``check_exact``, the same dtypes), the same
PNG and SVG bytes for figures.
"""

from __future__ import annotations

import importlib
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import parcours_research as pr

CC = importlib.import_module("parcours_research._contact_counts")
PC = importlib.import_module("parcours_research.plot.conformance")


# ---------------------------------------------------------------------------------------------
# contact counts of a study: the grid filled from the arrays' dense counts
# ---------------------------------------------------------------------------------------------
def _contact_counts_043(
    events, *, channels=None, period="study", customers=None, by=None, start=None, end=None
):
    """0.4.3's ``contact_counts`` (the reference): the counts above zero reindexed on the
    (customer, channel, period) grid."""
    freq = CC._frequency(period)
    counted, chans, labels, study = CC._counted(events, channels, freq, start, end)
    if customers is None:
        customers = CC._population(events, study, counted, by)
    customers = CC._check_population(customers, by)
    grid = pd.MultiIndex.from_product(
        [customers["customer_id"].astype(str).unique(), chans, labels],
        names=["customer_id", "channel", "period"],
    )
    out = counted.reindex(grid, fill_value=0).rename("contacts").reset_index()
    if by is not None:
        out.insert(1, by, CC._by_values(out, customers, by, len(chans) * len(labels)))
    out["contacts"] = out["contacts"].astype("int64")
    return out


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.dtypes.equals(want.dtypes) and isinstance(got.index, pd.RangeIndex)
    for c in got.columns:
        assert type(got[c].array) is type(want[c].array), c


@pytest.fixture(scope="module")
def ev(sample_study):
    return pr.evidence.prepare(sample_study)


def test_study_contact_counts_take_the_dense_path(ev, monkeypatch):
    calls = []
    dense = CC._dense_counts
    monkeypatch.setattr(CC, "_dense_counts", lambda *a: calls.append(1) or dense(*a))
    CC.contact_counts(ev, by="persona")
    assert calls == [1]


@pytest.mark.parametrize("by", ["persona", None])
def test_dense_contact_counts_equal_043(ev, by):
    _same(CC.contact_counts(ev, by=by), _contact_counts_043(ev, by=by))


def test_dense_contact_counts_with_a_given_population(ev):
    """Customers twice, customers without any event, log users outside the population."""
    cust = ev.study.customers[["customer_id", "persona"]]
    rng = np.random.default_rng(3)
    part = cust.iloc[rng.permutation(len(cust))[: len(cust) // 2]]
    extra = pd.DataFrame({"customer_id": ["nobody_1", "nobody_2"], "persona": [None, "x"]})
    given = pd.concat([part, part.head(5), extra], ignore_index=True)
    for by in ("persona", None):
        _same(
            CC.contact_counts(ev, customers=given, by=by),
            _contact_counts_043(ev, customers=given, by=by),
        )


def test_dense_contact_counts_with_channels_and_bounds(ev):
    tps = [t.id for t in ev.study.journey.touchpoints]
    channels = {tps[0]: "one", tps[1]: "one", tps[2]: None}
    start, end = ev.study.traces.period if ev.study.traces.period[0] else (None, None)
    kw = {"channels": channels, "by": "persona"}
    _same(CC.contact_counts(ev, **kw), _contact_counts_043(ev, **kw))
    if start is not None:
        mid = pd.Timestamp(start) + (pd.Timestamp(end) - pd.Timestamp(start)) / 2
        kw = {"by": "persona", "start": start, "end": mid}
        _same(CC.contact_counts(ev, **kw), _contact_counts_043(ev, **kw))


def test_contact_counts_without_the_arrays_are_unchanged(ev, monkeypatch):
    want = _contact_counts_043(ev, by="persona")
    monkeypatch.setattr(CC, "_dense_from_arrays", lambda *a: None)
    _same(CC.contact_counts(ev, by="persona"), want)
    _same(CC.contact_counts(ev, by="persona"), _contact_counts_043(ev, by="persona"))


def test_monthly_counts_keep_their_path(ev):
    _same(CC.contact_counts(ev, period="month"), _contact_counts_043(ev, period="month"))


# ---------------------------------------------------------------------------------------------
# designed against lived journeys: boxes without data limits, no ticks on the maps
# ---------------------------------------------------------------------------------------------
def _persona_panel_043(ax, p, n, result, costs, norm, cmap, label, lang, top, width, colour):
    """0.4.3's ``_persona_panel`` (the reference): the axis turned off, its ticks kept."""
    t = PC._TEXT[lang]
    PC._designed_row(ax, 0, p, result.designs, costs, norm, cmap, label, t)
    ax.text(-0.6, 0, t["designed"], ha="right", va="center", fontsize=9, fontweight="bold")
    PC._lived_rows(ax, -1.3, p, result.paths, costs, norm, cmap, label, lang, top)
    ax.set_xlim(-1.6, width)
    ax.set_ylim(-1.3 - (n - 2) - 0.6, 0.6)
    ax.axis("off")
    ax.set_title(
        t["all"] if p == "all" else label(p),
        loc="left",
        color=colour,
        fontsize=12,
        fontweight="bold",
    )


@pytest.fixture(scope="module")
def conformance_result(sample_study):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pr.journey.conformance(sample_study)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_lived_vs_designed_files_are_043s(
    conformance_result, sample_study, tmp_path, lang, monkeypatch
):
    fig = pr.plot.lived_vs_designed(conformance_result, journey=sample_study, lang=lang)
    new = pr.plot.save(fig, tmp_path / "new")
    plt.close(fig)
    assert all(len(ax.xaxis.get_majorticklocs()) == 0 for ax in fig.axes[:-1])
    monkeypatch.setattr(PC, "_add_box", lambda ax, patch: ax.add_patch(patch))
    monkeypatch.setattr(PC, "_persona_panel", _persona_panel_043)
    fig = pr.plot.lived_vs_designed(conformance_result, journey=sample_study, lang=lang)
    old = pr.plot.save(fig, tmp_path / "old")
    plt.close(fig)
    for a, b in zip(new, old, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_boxes_still_count_when_the_limits_are_computed_again(conformance_result, sample_study):
    fig = pr.plot.lived_vs_designed(conformance_result, journey=sample_study, lang="en")
    ax = fig.axes[0]
    ax.relim()
    x0, x1 = ax.dataLim.intervalx
    assert x0 == pytest.approx(-0.46) and x1 > 1  # the boxes' extent, from -0.44 - pad
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# contact pressure: set look-ups in Arrow, one period's rates without grouping by customer
# ---------------------------------------------------------------------------------------------
CP = importlib.import_module("parcours_research._contact_pressure")


def _respondent_contacts_043(ev, per_customer, outcome, by):
    """0.4.3's ``_respondent_contacts`` (the reference)."""
    st, resp, design = ev.study, ev.responses, ev.design
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
    r = r[keep.to_numpy()]
    mine = per_customer[per_customer["customer_id"].isin(r["customer_id"].unique())]
    rate = mine.groupby(["customer_id", "channel"], sort=False)["contacts"].mean().reset_index()
    return r.merge(rate, on="customer_id", how="inner")


def _rates_043(per_customer, by):
    """0.4.3's ``_rates`` (the reference)."""
    keys = [
        per_customer[by].astype("string") if by else pd.Series(CC.ALL, index=per_customer.index)
    ]
    keys += [per_customer["channel"], per_customer["customer_id"]]
    mean = per_customer["contacts"].groupby(keys, sort=True).mean()
    if mean.empty:
        return {}
    return {k: part.droplevel([0, 1]) for k, part in mean.groupby(level=[0, 1], sort=False)}


@pytest.mark.parametrize("by", ["persona", None])
def test_respondent_contacts_equal_043(ev, by):
    per_customer = CC.contact_counts(ev, by=by)
    outcome = ev.study.instrument.first("overall")
    got, _ = CP._respondent_contacts(ev, per_customer, outcome, by)  # and its accounting
    want = _respondent_contacts_043(ev, per_customer, outcome, by)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_log_users_read_as_text_or_not_give_the_same_respondents(ev, monkeypatch):
    ids = np.array(
        [*ev.study.responses[ev.study.survey.customer_id].astype(str), "zz", ""], dtype=object
    )
    got = CP._in_log(ev, ids)
    seen = set(CC._log_users(ev, ev.study, None)["customer_id"])
    assert got.tolist() == [i in seen for i in ids] and got.any() and not got[-2:].any()


@pytest.mark.parametrize(
    ("period", "by"), [("study", "persona"), ("study", None), ("month", "persona")]
)
def test_rates_hold_the_same_values_as_043(ev, period, by):
    """The rates are only counted into bands: the same values per (group, channel)."""
    per_customer = CC.contact_counts(ev, period=period, by=by)
    got, want = CP._rates(per_customer, by), _rates_043(per_customer, by)
    assert list(got) == list(want)
    for k in want:
        assert np.array_equal(np.sort(np.asarray(got[k])), np.sort(want[k].to_numpy())), k


def test_rates_leave_out_customers_without_a_group():
    pc = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c", "c"],
            "persona": pd.array(["p", "p", None, None, "q", "q"], dtype="string"),
            "channel": ["sms", "web"] * 3,
            "period": "study",
            "contacts": [1, 2, 3, 4, 5, 0],
        }
    )
    got, want = CP._rates(pc, "persona"), _rates_043(pc, "persona")
    assert list(got) == list(want) == [("p", "sms"), ("p", "web"), ("q", "sms"), ("q", "web")]
    assert [float(v[0]) for v in got.values()] == [1.0, 2.0, 5.0, 0.0]


def _cell_rows_043(cell, grp, chan, rate, min_n, confidence):
    """0.4.3's ``_cell_rows`` (the reference): the cell's columns set one by one."""
    from parcours_research._contact_stats import (
        _best_table,
        band_label,
        band_of,
        contact_bands,
        group_fit,
        step_tests,
    )

    bands = contact_bands(cell["contacts"], min_n)
    g = band_of(cell["contacts"], bands)
    cluster = cell["__cluster"] if "__cluster" in cell.columns else None
    w = cell["w"].to_numpy(float)
    mean, cov = group_fit(cell["y"], w, g, cluster=cluster)
    res = _best_table(mean, cov, w, np.asarray(g, int), confidence)
    res["customers"] = np.bincount(band_of(rate, bands), minlength=len(bands)) if len(rate) else 0
    res["__by"], res["channel"] = grp, chan
    res["contacts"] = [band_label(b, i == len(bands) - 1) for i, b in enumerate(bands)]
    res["contacts_low"] = [lo for lo, _ in bands]
    res["contacts_high"] = [hi for _, hi in bands]
    res = res.rename(columns={"n": "respondents", "estimate": "sat"})
    totals = np.bincount(g, weights=w, minlength=len(bands))
    zones = step_tests(mean, cov, totals, confidence=confidence)
    return res, CP._zone_rows(zones, res, totals, mean, grp, chan)


@pytest.mark.parametrize("by", ["persona", None])
def test_cell_rows_equal_043(ev, by):
    per_customer = CC.contact_counts(ev, by=by)
    frame, _ = CP._respondent_contacts(ev, per_customer, ev.study.instrument.first("overall"), by)
    rates = CP._rates(per_customer, by)
    cells = list(frame.groupby(["__by", "channel"], sort=True))
    assert cells
    for (grp, chan), cell in cells:
        for rate in (rates.get((grp, chan), CP._NO_RATE), CP._NO_RATE):
            got = CP._cell_rows(cell, grp, chan, rate, 30, 0.95)
            want = _cell_rows_043(cell, grp, chan, rate, 30, 0.95)
            for a, b in zip(got, want, strict=True):
                pd.testing.assert_frame_equal(a, b, check_exact=True)
                assert a.dtypes.equals(b.dtypes)


@pytest.mark.parametrize("period", ["study", "month"])
def test_contact_pressure_tables_equal_043(ev, period, monkeypatch):
    got = CP.contact_pressure(ev, period=period)
    monkeypatch.setattr(CC, "contact_counts", _contact_counts_043)
    monkeypatch.setattr(CP, "contact_counts", _contact_counts_043)
    # the reference frame, without the accounting that 0.4.3 did not have
    monkeypatch.setattr(CP, "_respondent_contacts", lambda *a: (_respondent_contacts_043(*a), None))
    monkeypatch.setattr(CP, "_rates", _rates_043)
    monkeypatch.setattr(CP, "_cell_rows", _cell_rows_043)
    want = CP.contact_pressure(ev, period=period)
    for name in ("summary", "zones", "counts", "per_customer"):
        a, b = getattr(got, name, None), getattr(want, name, None)
        if isinstance(b, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)


# ---------------------------------------------------------------------------------------------
# channel fit: each touchpoint's purpose and channel looked up once
# ---------------------------------------------------------------------------------------------
CF = importlib.import_module("parcours_research._channel_fit")


def test_map_each_is_series_map(ev):
    tp = ev.ratings["touchpoint"]
    mappings = (ev.study.purposes, CC._study_channels(ev.study), {})
    for values in (tp, tp.iloc[::-7], tp.astype(object), pd.Series([], dtype="str")):
        for mapping in mappings:
            pd.testing.assert_series_equal(
                CF._map_each(values, mapping), values.map(mapping), check_exact=True
            )
    with_na = pd.Series(["a", None, "b", "a"], dtype="string")
    pd.testing.assert_series_equal(
        CF._map_each(with_na, {"a": "x"}), with_na.map({"a": "x"}), check_exact=True
    )


def _purpose_rows_043(part, grp, purpose, min_n, confidence):
    """0.4.3's ``_purpose_rows`` (the reference)."""
    info = CF._channel_info(part)
    ok = info.index[info["respondents"] >= min_n].tolist()
    base = info.reset_index().assign(__by=grp, purpose=purpose)
    if len(ok) < 2:
        base["verdict"] = np.where(
            base["respondents"] >= min_n, "single channel", "too few respondents"
        )
        return base
    sub = part[part["channel"].isin(ok)]
    codes = {c: i for i, c in enumerate(ok)}
    res = CF.compare_with_best(
        sub["y"],
        sub["w"],
        sub["channel"].map(codes),
        cluster=sub["respondent_id"],
        confidence=confidence,
    )
    res["channel"] = ok
    res = res.drop(columns=["group", "n"]).rename(columns={"estimate": "sat"})
    out = base.merge(res, on="channel", how="left")
    out["verdict"] = np.where(out["channel"].isin(ok), None, "too few respondents")
    return out


@pytest.mark.parametrize("min_n", [30, 5, 400])
def test_purpose_rows_equal_043(ev, min_n):
    frame, _ = CF._fit_inputs(ev, "persona", "default")
    for (grp, purpose), part in frame.groupby(["__by", "purpose"], sort=True):
        pd.testing.assert_frame_equal(
            CF._purpose_rows(part, grp, purpose, min_n, 0.95),
            _purpose_rows_043(part, grp, purpose, min_n, 0.95),
            check_exact=True,
        )


def test_channel_fit_equals_043(ev, monkeypatch):
    got = CF.channel_fit(ev)
    monkeypatch.setattr(CF, "_map_each", lambda values, mapping: values.map(mapping))
    monkeypatch.setattr(CF, "_purpose_rows", _purpose_rows_043)
    want = CF.channel_fit(ev)
    pd.testing.assert_frame_equal(got.summary, want.summary, check_exact=True)
    pd.testing.assert_frame_equal(got.purposes, want.purposes, check_exact=True)
