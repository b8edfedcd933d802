"""Simulated data for a researcher's own study (``parcours sample OUT --from STUDY``).

:func:`simulate_study` reads a study.yml (stages, touchpoints and their trace events, personas
and how they are assigned, margins, the survey instrument, the trace and qualitative sections)
and writes, next to a copy of it, data that :func:`parcours_research.load_study` accepts: a
customer file, survey responses, an event log with its identity map, coded excerpts, and a
``truth.json`` of the planted effects. The kit can so be tried, and its power calibrated, on the
study being designed, before any data exists.

What is drawn
-------------
* customers: personas in the proportions of the ``persona`` margins (else equal), profile answers
  that the study's persona rules map to that persona, other margin columns at their shares;
* survey: respondents drawn among the customers; every touchpoint rating is a rounded latent
  normal (a person effect plus noise) whose mean meets the touchpoint's target by 0.10 (the
  scale's upper quarter without a target); planted frictions lower it for their persona; overall
  satisfaction follows the drawn drivers; other questions get plausible answers on their scales;
* traces: each customer walks the funnel (each step 0.85, lower for a persona with a friction at
  the step's touchpoint), then the other touchpoints' events; two-event touchpoints (start, end)
  complete with 0.9; anonymous prospects and a share of bot events are added;
* interviews: participants per persona, each talking about the friction points and a few other
  touchpoints; excerpts on a friction are mostly negative.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import brentq

from .errors import Problem, StudyError

__all__ = ["simulate_study"]

_DEFAULTS = {
    "n_customers": 2000,
    "n_prospects": 600,
    "n_respondents": 800,
    "n_participants": 24,
    "days": 84,
}
_MOOD_SD, _NOISE_SD = 0.55, 0.85
_BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
_HUMAN_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
)


@dataclass(frozen=True)
class _Source:
    """The study being simulated: its file, raw mapping, journey and instrument."""

    file: Path
    raw: dict
    journey: object
    assignment: object
    margins: dict
    instrument: object


def _read_source(source) -> _Source:
    from .study import _Checker, _journey, _margins
    from .survey.instrument import bundled_instruments, load_instrument

    p = Path(source)
    file = p / "study.yml" if p.is_dir() else p
    if not file.is_file():
        raise StudyError(
            f"--from {source}: no study.yml there; name a study folder or its study.yml."
        )
    raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    ck = _Checker(file.name)
    journey, assignment = _journey(raw, file.parent, ck)
    margins = _margins(raw.get("margins"), file.parent, ck)
    if ck.problems or journey is None:
        raise StudyError(
            f"--from {source}: study.yml has problems; fix them first (parcours validate).",
            ck.problems or [Problem("no stages or touchpoints", file.name)],
        )
    survey = raw.get("survey") or {}
    instrument = None
    if survey:
        name = str(survey.get("instrument", "standard_touchpoint"))
        ref = file.parent / name if name.endswith((".yml", ".yaml")) else name
        if not isinstance(ref, Path) and ref not in bundled_instruments():
            raise StudyError(f"--from {source}: unknown survey instrument {name!r}.")
        instrument = load_instrument(ref, journey, tuple(survey.get("touchpoints") or ()) or None)
    return _Source(file, raw, journey, assignment, margins, instrument)


def _sizes(src: _Source, sizes: dict) -> dict:
    """Sizes from the arguments, else ``plan:`` of study.yml, else the defaults."""
    plan = src.raw.get("plan") or {}
    keys = {
        "n_customers": "customers",
        "n_prospects": "prospects",
        "n_respondents": "respondents",
        "n_participants": "participants",
        "days": "days",
    }
    out = {k: int(sizes.get(k) or plan.get(v) or _DEFAULTS[k]) for k, v in keys.items()}
    out["n_respondents"] = min(out["n_respondents"], out["n_customers"])
    return out


def _trace_steps(src: _Source) -> dict[str, tuple[str, str]]:
    """Touchpoints with a trace step and the step (start event, end event)."""
    tr = src.raw.get("traces") or {}
    funnel = list(tr.get("funnel") or [])
    owner = {e: t.id for t in src.journey.touchpoints for e in t.events}
    steps = {owner[b]: (a, b) for a, b in zip(funnel, funnel[1:], strict=False) if b in owner}
    for t in src.journey.touchpoints:
        if len(t.events) >= 2 and t.id not in steps:
            steps[t.id] = (t.events[0], t.events[-1])
    return steps if tr else {}


def _effects(src: _Source, seed: int, effects: str, friction, bot_share) -> dict:
    """The planted effects (drawn from the seed unless fixed): frictions, drivers, bot share."""
    from .sample import DEFAULT_SIZE, EFFECTS

    if effects not in EFFECTS:
        raise StudyError(f"effects={effects!r} must be one of {', '.join(EFFECTS)}.")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    tps = [t.id for t in src.journey.touchpoints]
    personas = list(src.journey.persona_ids)
    steps = _trace_steps(src)
    fixed = [_parse(f, tps, personas, DEFAULT_SIZE) for f in friction or ()]
    if effects == "null" and fixed:
        raise StudyError("A null study plants no friction: drop --null or --friction.")
    k = int(rng.choice([0, 1, 2, 3], p=[0.1, 0.5, 0.3, 0.1]))
    pool = list(steps) or tps
    drawn = [
        {
            "touchpoint": str(t),
            "persona": str(rng.choice(personas)),
            "size": round(float(rng.uniform(1.2, 1.8)), 1),
        }
        for t in rng.choice(pool, size=min(k, len(pool)), replace=False)
    ]
    drivers = rng.choice(tps, size=min(2, len(tps)), replace=False).tolist()
    coefs = [round(float(c), 2) for c in rng.uniform(0.35, 0.6, size=len(drivers))]
    drawn_bot = round(float(rng.uniform(0.03, 0.15)), 3)
    if effects == "null":
        frictions, drivers, coefs = [], [], []
    else:
        frictions = fixed or drawn
    for f in frictions:
        f["sources"] = (["traces"] if f["touchpoint"] in steps else []) + ["survey", "qual"]
        f["trace_step"] = list(steps.get(f["touchpoint"], ())) or None
    origin = "null" if effects == "null" else ("fixed" if fixed else "drawn")
    return {
        "frictions": frictions,
        "drivers": dict(zip(drivers, coefs, strict=True)),
        "bot_share": drawn_bot if bot_share is None else float(bot_share),
        "origin": origin,
    }


def _parse(spec, tps, personas, default_size) -> dict:
    parts = str(spec).split(":")
    if len(parts) not in (2, 3) or parts[0] not in tps or parts[1] not in personas:
        raise StudyError(
            f"--friction {spec!r}: write TOUCHPOINT:PERSONA[:SIZE] with a touchpoint of the study "
            f"({', '.join(tps)}) and one of its personas ({', '.join(personas)})."
        )
    try:
        size = float(parts[2]) if len(parts) == 3 else default_size
    except ValueError:
        raise StudyError(f"--friction {spec!r}: SIZE must be a number of rating points.") from None
    return {"touchpoint": parts[0], "persona": parts[1], "size": size}


# ---------------------------------------------------------------------------------------------
# customers and their profile answers
# ---------------------------------------------------------------------------------------------
def _pools(src: _Source) -> dict[str, list]:
    """Values each profile column can take: the instrument's options, the rules' values and
    bounds, the margins' levels."""
    pools: dict[str, list] = {}
    if src.instrument is not None:
        for q in src.instrument.questions:
            if q.role == "profile":
                lo, hi = (
                    int(q.min if q.min is not None else 0),
                    int(q.max if q.max is not None else 40),
                )
                pools[q.id] = list(q.options) if q.options else list(range(lo, hi + 1))
    for col, levels in src.margins.items():
        if col != "persona":
            pools.setdefault(col, list(levels))
    for rule in src.assignment.rules:
        for c in rule.conditions:
            pool = pools.setdefault(c.column, [])
            if c.op in ("in", "not_in"):
                pool.extend(v for v in c.values if v not in pool)
                if c.op == "not_in" and "other" not in pool:
                    pool.append("other")
            elif c.op in ("min", "max"):
                pool.extend(v for v in range(0, int(float(c.values[0])) + 6) if v not in pool)
            elif c.op == "missing":
                pool.append(None)
    return pools


def _customers(src: _Source, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Customers with a persona (margins' shares) and profile answers that give it."""
    personas = list(src.journey.persona_ids)
    m = src.margins.get("persona") or dict.fromkeys(personas, 1.0)
    p = np.array([float(m.get(x, 0.0)) for x in personas])
    persona = rng.choice(personas, size=n, p=p / p.sum())
    pools = _pools(src)
    df = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(1, n + 1)]})
    if src.assignment.column:
        df[src.assignment.column] = persona
    else:
        cand = pd.DataFrame(
            {c: rng.choice(np.array(v, dtype=object), size=4000) for c, v in pools.items() if v}
        )
        from .journey import assign_personas

        got = (
            assign_personas(cand, src.assignment).to_numpy(dtype=object)
            if src.assignment.rules
            else np.full(len(cand), src.assignment.default, dtype=object)
        )
        missing = [x for x in set(persona) if not (got == x).any()]
        if missing:
            raise StudyError(
                "--from: no profile answers found that the persona rules map to "
                f"{', '.join(sorted(missing))}; check persona_assignment in study.yml."
            )
        pick = np.array([rng.choice(np.flatnonzero(got == x)) for x in persona])
        df = pd.concat([df, cand.iloc[pick].reset_index(drop=True)], axis=1)
    for col, levels in src.margins.items():
        if col != "persona" and col not in src.assignment.columns:
            lv = list(levels)
            w = np.array([float(levels[x]) for x in lv])
            df[col] = rng.choice(np.array(lv, dtype=object), size=n, p=w / w.sum())
    df["_persona"] = persona
    return df


# ---------------------------------------------------------------------------------------------
# survey
# ---------------------------------------------------------------------------------------------
def _latent_mean(lo: float, hi: float, sd: float, target: float | None) -> float:
    """Latent mean whose rounded, clipped rating has mean ``target + 0.10`` (or sits in the
    upper quarter of the scale without a target)."""
    from .sample import expected_rating

    if target is None:
        return lo + 0.75 * (hi - lo)
    goal = float(np.clip(target + 0.10, lo + 0.05, hi - 0.05))
    return brentq(lambda mu: expected_rating(mu, sd, int(lo), int(hi)) - goal, lo - 5, hi + 5)


def _ratings(src: _Source, rng, resp: pd.DataFrame, eff: dict) -> tuple[dict, dict]:
    """Touchpoint ratings (columns) and their latent deviations, with the frictions planted."""
    persona = resp["_persona"].to_numpy()
    mood = rng.normal(0, _MOOD_SD, len(resp))
    target = {t.id: t.target_satisfaction for t in src.journey.touchpoints}
    cols, z = {}, {}
    for q in src.instrument.questions:
        if q.role not in ("touchpoint_satisfaction", "touchpoint_effort") or q.touchpoint is None:
            continue
        lo, hi = float(q.min or 1), float(q.max or 5)
        unit = (hi - lo) / 4
        mu = _latent_mean(
            lo,
            hi,
            float(np.hypot(_MOOD_SD, _NOISE_SD)) * unit,
            target.get(q.touchpoint) if q.role == "touchpoint_satisfaction" else None,
        )
        shift = np.zeros(len(resp))
        for f in eff["frictions"]:
            if f["touchpoint"] == q.touchpoint:
                shift[persona == f["persona"]] -= f["size"] * unit
        lat = mu + shift + (mood + rng.normal(0, _NOISE_SD, len(resp))) * unit
        val = np.clip(np.round(lat), lo, hi)
        if not q.required:
            val[rng.random(len(resp)) < 0.15] = np.nan
        cols[q.id] = val
        if q.role == "touchpoint_satisfaction":
            z[q.touchpoint] = (lat - mu) / unit
    return cols, z


def _other_answer(q, rng, n: int, overall: np.ndarray):
    """Answers to a question that is not a touchpoint rating."""
    lo, hi = float(q.min if q.min is not None else 1), float(q.max if q.max is not None else 5)
    if q.role in ("overall", "nps", "effort") or q.type in ("rating", "nps", "ces"):
        return np.clip(
            np.round(lo + (hi - lo) * (0.75 + 0.18 * overall) + rng.normal(0, 0.1 * (hi - lo), n)),
            lo,
            hi,
        )
    if q.type == "kano":
        return rng.integers(1, 6, size=n).astype(float)
    if q.type == "single" and q.options:
        return rng.choice(np.array(q.options, dtype=object), size=n)
    if q.type == "multi" and q.options:
        return np.array(
            [
                ";".join(rng.choice(q.options, size=int(rng.integers(1, 3)), replace=False))
                for _ in range(n)
            ],
            dtype=object,
        )
    if q.type == "number":
        return rng.integers(int(lo), int(hi) + 1, size=n).astype(float)
    return np.full(n, "", dtype=object)


def _survey(src: _Source, rng, customers: pd.DataFrame, n_resp: int, eff: dict) -> pd.DataFrame:
    idx = np.sort(rng.choice(len(customers), size=n_resp, replace=False))
    resp = customers.iloc[idx].reset_index(drop=True)
    inst = src.instrument
    out = pd.DataFrame({inst.respondent_id: [f"R{i:05d}" for i in range(1, n_resp + 1)]})
    if "customer_id" in inst.id_columns or (src.raw.get("survey") or {}).get("customer_id"):
        out[(src.raw.get("survey") or {}).get("customer_id", "customer_id")] = resp[
            "customer_id"
        ].to_numpy()
    cols, z = _ratings(src, rng, resp, eff)
    overall = sum(b * z[t] for t, b in eff["drivers"].items() if t in z) + rng.normal(
        0, 0.45, n_resp
    )
    overall = np.tanh(np.asarray(overall, float) / 2)
    for q in inst.questions:
        if q.id in cols:
            out[q.id] = cols[q.id]
        elif q.id in resp.columns:
            out[q.id] = resp[q.id].to_numpy()
        elif q.id != inst.respondent_id and q.id not in out:
            out[q.id] = _other_answer(q, rng, n_resp, overall)
    for c in [*src.assignment.columns, *(k for k in src.margins if k != "persona")]:
        if c not in out and c in resp:
            out[c] = resp[c].to_numpy()
    sv = src.raw.get("survey") or {}
    if sv.get("weight"):
        out[sv["weight"]] = np.round(np.exp(rng.normal(0, 0.3, n_resp)), 4)
    for key, fmt in (("strata", "s{}"), ("cluster", "c{}")):
        if sv.get(key):
            out[sv[key]] = [fmt.format(i % 10) for i in range(n_resp)]
    return out.assign(_persona=resp["_persona"].to_numpy())


# ---------------------------------------------------------------------------------------------
# traces
# ---------------------------------------------------------------------------------------------
def _completion(eff: dict, touchpoint: str | None, persona: str, base: float) -> float:
    for f in eff["frictions"]:
        if f["touchpoint"] == touchpoint and f["persona"] == persona:
            return max(base - 0.32 * f["size"] / 1.5, 0.05)
    return base


def _walk(src: _Source, eff: dict, persona: str, rng) -> list[str]:
    """One customer's events: the funnel (stopping at a failed step), then the other
    touchpoints' events."""
    tr = src.raw.get("traces") or {}
    funnel = list(tr.get("funnel") or [])
    owner = {e: t for t in src.journey.touchpoints for e in t.events}
    events: list[str] = []
    for i, e in enumerate(funnel):
        tp = owner.get(e)
        before = (
            [x for x in (tp.events if tp else ())[: list(tp.events).index(e)] if x not in events]
            if tp
            else []
        )
        events.extend(before)
        if i and rng.random() >= _completion(eff, tp.id if tp else None, persona, 0.85):
            return events
        events.append(e)
    for t in src.journey.touchpoints:
        if not t.events or any(e in funnel for e in t.events) or rng.random() >= 0.7:
            continue
        evs = list(t.events)
        if len(evs) >= 2 and rng.random() >= _completion(eff, t.id, persona, 0.9):
            evs = evs[:-1]
        events.extend(evs)
    return events


def _period(src: _Source, days: int) -> tuple[pd.Timestamp, float]:
    tr = src.raw.get("traces") or {}
    per = tr.get("period") or src.raw.get("period") or {}
    tz = str(tr.get("timezone", "UTC"))
    start = pd.Timestamp(str(per.get("start", "2026-01-05")), tz=tz)
    end = (
        pd.Timestamp(str(per["end"]), tz=tz) + pd.Timedelta(days=1)
        if per.get("end")
        else start + pd.Timedelta(days=days)
    )
    return start, (end - start).total_seconds()


def _traces(src: _Source, rng, customers: pd.DataFrame, n_prospects: int, days: int, eff: dict):
    """The event log (canonical columns) and the identity map."""
    start, span = _period(src, days)
    rows, ident = [], []
    funnel = list((src.raw.get("traces") or {}).get("funnel") or [])
    for i, (cid, persona) in enumerate(
        zip(customers["customer_id"], customers["_persona"], strict=True)
    ):
        dev = f"d{i + 1:07d}"
        ident.append((dev, cid))
        t = float(rng.uniform(0, span * 0.6))
        for e in _walk(src, eff, persona, rng):
            rows.append((cid, dev, t, e, _HUMAN_AGENT))
            t = min(t + float(rng.exponential(3600)) + 30, span - 1)
    for j in range(n_prospects):
        t = float(rng.uniform(0, span - 3600))
        for e in funnel[: int(rng.integers(1, 3))]:
            rows.append(("", f"p{j + 1:07d}", t, e, _HUMAN_AGENT))
            t += float(rng.exponential(60)) + 5
    n_bot = int(round(eff["bot_share"] * len(rows) / (1 - eff["bot_share"])))
    first = funnel[0] if funnel else next(e for t in src.journey.touchpoints for e in t.events)
    for k in range(n_bot):
        rows.append(("", f"b{k // 50:05d}", float(rng.uniform(0, span - 1)), first, _BOT_AGENT))
    df = pd.DataFrame(
        rows, columns=["user_id", "device_id", "_t", "event", "user_agent"]
    ).sort_values("_t", kind="stable")
    ts = start + pd.to_timedelta(np.round(df["_t"].to_numpy() * 1000), unit="ms")
    df["timestamp"] = (
        pd.Series(ts).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3].to_numpy()
        + pd.Series(ts)
        .dt.strftime("%z")
        .str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
        .to_numpy()
    )
    info = {"n_rows": len(df), "n_bot_rows": n_bot}
    return (
        df.drop(columns="_t").reset_index(drop=True),
        pd.DataFrame(ident, columns=["device_id", "customer_id"]),
        info,
    )


def _write_events(src: _Source, out: Path, df: pd.DataFrame) -> None:
    """Write the log where study.yml says, with its column names and format."""
    from .sample import _write_csv

    tr = src.raw["traces"]
    path = tr.get("events")
    if not isinstance(path, str) or any(ch in path for ch in "*?[") or path.endswith("/"):
        raise StudyError(f"--from: traces.events {path!r} must name one file for simulated data.")
    cols = {k: v for k, v in (tr.get("columns") or {}).items() if k in df.columns}
    keep = [
        c
        for c in ("user_id", "device_id", "timestamp", "event", "user_agent")
        if c in cols
        or c in ("user_id", "timestamp", "event")
        or (c == "device_id" and tr.get("identity_map"))
    ]
    data = df[keep].rename(columns=cols)
    fmt = tr.get("format") or (
        "parquet"
        if path.endswith((".parquet", ".pq"))
        else "jsonl"
        if path.endswith((".jsonl", ".json", ".ndjson"))
        else "csv"
    )
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        data.to_parquet(target, index=False)
    elif fmt == "jsonl":
        data.to_json(target, orient="records", lines=True, force_ascii=False)
    elif fmt == "csv":
        _write_csv(data, target, gz=path.endswith(".gz"))
    else:
        raise StudyError(
            f"--from: traces format {fmt!r} cannot be simulated; use csv, parquet or jsonl."
        )


# ---------------------------------------------------------------------------------------------
# interviews
# ---------------------------------------------------------------------------------------------
def _excerpts(
    src: _Source, rng, survey: pd.DataFrame, n_participants: int, eff: dict
) -> pd.DataFrame:
    """Coded excerpts: participants per persona, each on the friction points and a few others."""
    personas = list(src.journey.persona_ids)
    per = max(1, n_participants // len(personas))
    tps = [t.id for t in src.journey.touchpoints]
    labels = {
        t.id: t.label.get(src.journey.language) if hasattr(t.label, "get") else str(t.label)
        for t in src.journey.touchpoints
    }
    must = list(dict.fromkeys(f["touchpoint"] for f in eff["frictions"]))
    rows, k, j = [], 0, 0
    for p in personas:
        idx = np.flatnonzero(survey["_persona"].to_numpy() == p)
        for r in rng.choice(idx, size=min(per, len(idx)), replace=False) if len(idx) else []:
            j += 1
            rest = [t for t in tps if t not in must]
            picks = (
                must
                + rng.choice(
                    rest, size=min(len(rest), int(rng.integers(3, 6))), replace=False
                ).tolist()
            )
            for tp in picks:
                bad = any(f["touchpoint"] == tp and f["persona"] == p for f in eff["frictions"])
                val = int(
                    rng.choice([-2, -1, 0], p=[0.55, 0.3, 0.15])
                    if bad
                    else rng.choice([-2, -1, 0, 1, 2], p=[0.07, 0.15, 0.28, 0.32, 0.18])
                )
                k += 1
                rows.append(
                    {
                        "excerpt_id": f"E{k:04d}",
                        "participant": f"P{j:02d}",
                        "customer_id": survey.at[r, "customer_id"]
                        if "customer_id" in survey
                        else "",
                        "touchpoint": tp,
                        "code": labels[tp],
                        "valence": val,
                        "text": f"{labels[tp]} : "
                        + ("pas simple du tout." if val < 0 else "ça allait."),
                        "coder": "coder_a",
                    }
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# the study folder
# ---------------------------------------------------------------------------------------------
def _copy_inputs(src: _Source, out: Path) -> None:
    """Copy study.yml and the files it names that are not data (instrument, margins, code map)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.file, out / "study.yml")
    names = [
        (src.raw.get("survey") or {}).get("instrument"),
        src.raw.get("margins"),
        (src.raw.get("qual") or {}).get("code_map")
        if isinstance(src.raw.get("qual"), dict)
        else None,
    ]
    for name in names:
        if isinstance(name, str) and (src.file.parent / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src.file.parent / name, out / name)


def _write_data(src: _Source, out: Path, data: dict) -> None:
    from .sample import _write_csv

    raw = src.raw
    if raw.get("customers"):
        _write_csv(data["customers"].drop(columns="_persona"), out / raw["customers"])
    if data.get("survey") is not None and (raw.get("survey") or {}).get("responses"):
        _write_csv(data["survey"].drop(columns="_persona"), out / raw["survey"]["responses"])
    if data.get("events") is not None:
        _write_events(src, out, data["events"])
        if raw["traces"].get("identity_map"):
            _write_csv(data["identity"], out / raw["traces"]["identity_map"])
    q = raw.get("qual")
    if data.get("excerpts") is not None and q:
        path = q if isinstance(q, str) else q.get("excerpts")
        if not str(path).endswith(".csv"):
            raise StudyError(
                f"--from: qual excerpts {path!r} must be a .csv file for simulated data."
            )
        _write_csv(data["excerpts"], out / path)


def simulate_study(
    source,
    out,
    *,
    seed: int = 0,
    sizes: dict | None = None,
    bot_share: float | None = None,
    effects: str = "seed",
    friction=None,
    overwrite: bool = False,
) -> Path:
    """Write simulated data for the study ``source`` (a study.yml or its folder) to ``out``.

    Parameters
    ----------
    source : str or Path
    out : str or Path
        Folder to create (empty, or replaced with ``overwrite``).
    seed : int
    sizes : dict, optional
        ``n_customers, n_prospects, n_respondents, n_participants, days`` (missing ones from
        ``plan:`` in study.yml, else defaults).
    bot_share : float, optional
    effects : {"seed", "null"}
        Draw the effects from the seed, or plant none (``"bundled"`` draws too).
    friction : iterable of str, optional
        ``"TOUCHPOINT:PERSONA[:SIZE]"`` frictions to plant instead of drawn ones.
    overwrite : bool

    Returns
    -------
    Path
        The study folder, which :func:`parcours_research.load_study` accepts.
    """
    from .sample import _prepare_folder
    from .study import load_study

    src = _read_source(source)
    out = Path(out)
    n = _sizes(src, dict(sizes or {}))
    eff = _effects(src, seed, effects, friction, bot_share)
    kept = _prepare_folder(out, overwrite)
    rng = np.random.default_rng(seed)
    data = {"customers": _customers(src, rng, n["n_customers"])}
    if src.instrument is not None:
        data["survey"] = _survey(src, rng, data["customers"], n["n_respondents"], eff)
    info = {"n_rows": 0, "n_bot_rows": 0}
    if src.raw.get("traces"):
        data["events"], data["identity"], info = _traces(
            src, rng, data["customers"], n["n_prospects"], n["days"], eff
        )
    if src.raw.get("qual") and data.get("survey") is not None:
        data["excerpts"] = _excerpts(src, rng, data["survey"], n["n_participants"], eff)
    _copy_inputs(src, out)
    _write_data(src, out, data)
    truth = {
        "seed": seed,
        "source": str(src.file),
        "sizes": n,
        "friction": [
            {"touchpoint": f["touchpoint"], "persona": f["persona"]} for f in eff["frictions"]
        ],
        "frictions": eff["frictions"],
        "drivers": list(eff["drivers"]),
        "driver_coefficients": eff["drivers"],
        "bot_share": round(info["n_bot_rows"] / info["n_rows"], 6) if info["n_rows"] else 0.0,
        "effects": {
            "origin": eff["origin"],
            "null": eff["origin"] == "null",
            "bot_share_planned": eff["bot_share"],
        },
    }
    (out / "truth.json").write_text(
        json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    from ._outputs import mark_sample_folder

    mark_sample_folder(
        out, kept, seed=seed, source=str(src.file)
    )  # what --overwrite may delete next time
    load_study(out)  # the simulated study must load: fail here, with the loader's problems, if not
    return out
