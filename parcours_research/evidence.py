"""Prepared evidence: a study's analysis-ready data, computed once and shared.

A loaded :class:`~parcours_research.study.Study` describes where the data are. Its *prepared
evidence* is what every analysis reads:

- ``traces``: the event log read, cleaned of bots and duplicates, stitched to customers,
  sessionized, mapped to touchpoints and given each customer's persona (an
  :class:`~parcours_research.traces.EventLog` on the study's engine, so DuckDB and Spark keep
  working at scale), with its cleaning log and identity conflicts;
- ``weighting``: the survey weights under the study's one weighting rule
  (:func:`parcours_research.weighting.study_weights`);
- ``responses`` and ``ratings``: the responses and the long touchpoint ratings with those
  weights (column ``weight``), personas and design columns;
- ``excerpts``: the coded interview excerpts, their text scrubbed of names, e-mails and
  phone numbers and their participant and customer ids pseudonymised.

:func:`prepare` builds each part lazily, the first time it is asked for, and keeps it on the
study: every later call with the same options returns the same object, so the report, the
notebooks, the widgets and the analyses never read, clean, stitch or rake twice. Other options
(cleaning off, other weights) give another prepared state beside the first, never a changed one.

>>> import parcours_research as pr
>>> ev = pr.prepare(pr.load_study("data/sample"))        # doctest: +SKIP
>>> ev.traces.cleaning.summary                            # doctest: +SKIP
>>> ev.ratings.head()                                     # doctest: +SKIP
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from .errors import Problem, StudyError

__all__ = ["prepare", "evidence_of", "study_engine", "Evidence", "TraceEvidence", "Options",
           "WEIGHT"]

#: Name of the weight column of the prepared responses and ratings.
WEIGHT = "weight"


@dataclass(frozen=True)
class Options:
    """The options a prepared state depends on (one prepared state per distinct value).

    Attributes
    ----------
    clean : bool or dict, default True
        Clean the event log of bots, duplicates and unusable rows before stitching; a dict
        gives options of :func:`parcours_research.traces.clean` (``{"bots_behaviour": False}``).
    weight : {"default", "rake", "design", None} or str, default "default"
        The weighting rule (:func:`parcours_research.weighting.study_weights`).
    engine : Engine, optional
        Where the event log is read and every trace analysis runs; None for the study's
        engine (``traces: engine:`` in study.yml, :func:`study_engine`; by default the
        embedded DuckDB connection).
    """

    clean: bool | dict = True
    weight: str | None = "default"
    engine: object | None = field(default=None, compare=True, hash=False)

    @property
    def key(self) -> tuple:
        clean = self.clean if isinstance(self.clean, bool) else repr(sorted(self.clean.items()))
        return (clean, self.weight, id(self.engine) if self.engine is not None else None)

    @property
    def clean_options(self) -> dict | None:
        """Keyword arguments of :func:`parcours_research.traces.clean`, or None (no cleaning)."""
        if self.clean is False:
            return None
        return {} if self.clean is True else dict(self.clean)


@dataclass(frozen=True, repr=False)
class TraceEvidence:
    """The study's event log, prepared once.

    Attributes
    ----------
    raw : EventLog
        The event log as read (:func:`parcours_research.traces.read_events`), lazy.
    log : EventLog
        Cleaned (unless ``clean=False``), stitched, sessionized events with a ``touchpoint``
        column and, when the customer file gives personas, a ``persona`` column,
        materialised once in the engine (:meth:`EventLog.persist`).
    cleaning : CleaningLog or None
        Every removed row counted by reason (None with ``clean=False``).
    conflicts : DataFrame
        Devices linked to more than one customer (left unstitched), as
        :func:`parcours_research.traces.stitch` reports them, with ``device_id`` and
        ``user_id`` pseudonymised with the study's salt (the raw ids stay in ``log``).
    by : str or None
        ``"persona"`` when the log carries personas, else None.
    unmapped : DataFrame or None
        Kept events whose names map to no touchpoint, by name: ``event, n, share, role``
        (:func:`parcours_research.traces.coverage.unmapped_events`; ``role`` is ``identity``
        for the study's ``login_events``). A warning names their count when there are any.
    """

    raw: object
    log: object
    cleaning: object | None
    conflicts: pd.DataFrame
    by: str | None
    unmapped: pd.DataFrame | None = None

    @property
    def engine(self):
        """The engine holding the prepared log, where every trace analysis of the study runs
        (DuckDB or Spark): only aggregated tables come back from it."""
        return self.log.engine

    @property
    def warnings(self) -> list[str]:
        """What the preparation left out that deserves a look: each cleaning filter removing
        more than half the rows, and the kept events mapped to no touchpoint (with their
        count and most frequent names). Empty when there is nothing to say."""
        from .traces.coverage import removal_messages, unmapped_message

        out = removal_messages(self.cleaning) if self.cleaning is not None else []
        message = None if self.unmapped is None else unmapped_message(self.unmapped)
        return out + ([message] if message else [])

    def __repr__(self) -> str:
        kept = "not cleaned" if self.cleaning is None else f"{self.cleaning.n_kept:,} events kept"
        return (f"TraceEvidence({kept}, {len(self.conflicts)} identity conflicts, "
                f"personas={'yes' if self.by else 'no'})")


class Evidence:
    """A study's prepared evidence under one set of options; build it with :func:`prepare`.

    Every attribute is computed the first time it is read, then kept.
    """

    def __init__(self, study, options: Options):
        self.study = study
        self.options = options
        self._lock = threading.RLock()

    # ---- traces ------------------------------------------------------------------------------
    @cached_property
    def traces(self) -> TraceEvidence:
        """The prepared event log (see :class:`TraceEvidence`)."""
        st = self.study
        if st.traces is None:
            raise StudyError(
                f"The study {st.name!r} has no event log.",
                [Problem("no traces", "study.yml", column="traces",
                         fix="add `traces: {events: ...}` to study.yml")],
            )
        from . import traces as tr

        with self._lock:  # two threads asking at once: the second gets the first one's
            if "traces" in self.__dict__:
                return self.__dict__["traces"]
            raw = raw_events(st, engine=self.options.engine or study_engine(st))
            log, cleaning = raw, None
            if self.options.clean_options is not None:
                log, cleaning = tr.clean(raw, **self.options.clean_options)
            log, conflicts = tr.stitch(log)
            # raw ids stay inside the prepared evidence: what is shown carries pseudonyms
            conflicts = _private_conflicts(conflicts, st.privacy_salt)
            log = tr.map_touchpoints(tr.sessionize(log))
            by = None
            if st.customers is not None and "persona" in st.customers.columns:
                log = tr.attach(log, st.customers[["customer_id", "persona"]], on="user_id",
                                key="customer_id")
                by = "persona"
            # materialised once (DuckDB spills beyond its memory limit, Spark caches): every
            # analysis then reads this table instead of re-running the chain of views
            log = log.persist()
            return TraceEvidence(raw, log, cleaning, conflicts, by, _unmapped(log))

    # ---- survey ------------------------------------------------------------------------------
    @cached_property
    def weighting(self):
        """The survey weights under the study's rule (a
        :class:`~parcours_research.weighting.StudyWeights`)."""
        from .weighting import study_weights

        return study_weights(self.study, weight=self.options.weight)

    @property
    def design(self) -> dict:
        """The survey design columns: ``{"weight": "weight", "strata": ..., "cluster": ...,
        "fpc": ...}`` (strata, cluster and fpc as declared under ``survey:``, else None)."""
        cfg = self.study.survey
        return {"weight": WEIGHT, "strata": getattr(cfg, "strata", None),
                "cluster": getattr(cfg, "cluster", None), "fpc": getattr(cfg, "fpc", None)}

    @cached_property
    def responses(self) -> pd.DataFrame:
        """The survey responses, one row per respondent, with the rule's weights in column
        ``weight`` (a column of that name in the file is replaced: it stays in
        ``study.responses``)."""
        w = self.weighting.weights
        return self.study.responses.assign(**{WEIGHT: w.to_numpy()})

    @cached_property
    def ratings(self) -> pd.DataFrame:
        """Touchpoint ratings in long format with weights: ``respondent_id, persona,
        touchpoint, stage, order, score, weight`` (and the design's strata and cluster
        columns when declared), one row per respondent and rated touchpoint."""
        st = self.study
        design = [c for c in (self.design["strata"], self.design["cluster"],
                              self.design.get("fpc")) if c]
        keep = [c for c in design if c != st.instrument.respondent_id]
        long = st.ratings_long(keep=keep)
        rid = st.instrument.respondent_id
        wmap = pd.Series(self.responses[WEIGHT].to_numpy(),
                         index=self.responses[rid].astype(str).to_numpy())
        long[WEIGHT] = wmap.reindex(long["respondent_id"].astype(str).to_numpy()).to_numpy()
        return long

    # ---- interviews --------------------------------------------------------------------------
    @cached_property
    def excerpts(self) -> pd.DataFrame | None:
        """The coded excerpts (:func:`parcours_research.qual.read_excerpts`), text scrubbed by
        the study's scrubber (:func:`parcours_research.privacy.study_scrubber`: names, e-mails,
        phones, IBAN, NIR, cards, SIRET, addresses), ``participant`` and ``customer_id``
        pseudonymised with the study's salt; None when the study has no qualitative file."""
        if self.study.qual is None:
            return None
        from .qual import read_excerpts

        return _private_excerpts(read_excerpts(self.study), self.study.privacy_salt,
                                 language=self.study.journey.language, keep=_journey_words(self.study))

    # ---- results derived once -------------------------------------------------------------------
    def derived(self, key, make):
        """``make()`` computed once for this prepared state and kept under ``key`` (a hashable
        naming the result and its options), so that analyses reading the same derived table
        (the step counts of :func:`parcours_research.friction.trace_counts`, read by the
        friction tests and by ``next_wave``) share one computation. The result is returned
        as it is: callers that change it take a copy."""
        memo = self.__dict__.setdefault("_derived", {})
        if key not in memo:
            value = make()
            with self._lock:
                memo.setdefault(key, value)
        return memo[key]

    # ---- other states and display --------------------------------------------------------------
    def with_options(self, **changes) -> Evidence:
        """The study's prepared evidence under other options (``clean=``, ``weight=``,
        ``engine=``); this one is left as it is."""
        return prepare(self.study, **{**_as_kwargs(self.options), **changes})

    @property
    def prepared(self) -> list[str]:
        """Which parts have been computed so far."""
        return [k for k in ("traces", "weighting", "responses", "ratings", "excerpts")
                if k in self.__dict__]

    @property
    def summary(self) -> pd.DataFrame:
        """What this prepared state holds: ``item, value``."""
        st = self.study
        rows = [("study", st.name), ("clean traces", str(self.options.clean)),
                ("weight rule", str(self.options.weight))]
        if "weighting" in self.__dict__:
            rows.append(("weights", self.weighting.description))
        if "traces" in self.__dict__:
            rows.append(("trace engine", repr(self.traces.engine)))
            rows += _trace_quality_rows(self.traces)
        rows.append(("prepared so far", ", ".join(self.prepared) or "nothing yet"))
        return pd.DataFrame(rows, columns=["item", "value"])

    def __repr__(self) -> str:
        return (f"Evidence({self.study.name!r}, clean={self.options.clean}, "
                f"weight={self.options.weight!r}, prepared={self.prepared})")

    def _repr_html_(self) -> str:
        return f"<p><b>{html.escape(repr(self))}</b></p>" + self.summary.to_html(index=False)


def _unmapped(log) -> pd.DataFrame:
    """The kept events mapped to no touchpoint, warned about loudly when there are any."""
    import warnings

    from .errors import DataQualityWarning
    from .traces.coverage import unmapped_events, unmapped_message

    table = unmapped_events(log)
    message = unmapped_message(table)
    if message:
        warnings.warn(message, DataQualityWarning, stacklevel=4)
    return table


def _trace_quality_rows(traces: TraceEvidence) -> list[tuple[str, str]]:
    """The summary's lines about what the trace pipeline left out."""
    rows = []
    if traces.cleaning is not None:
        rows.append(("events kept", f"{traces.cleaning.n_kept:,} of {traces.cleaning.n_input:,}"))
    if traces.unmapped is not None:
        un = traces.unmapped[traces.unmapped["role"] == "unmapped"]
        rows.append(("events mapped to no touchpoint", f"{int(un['n'].sum()):,}"))
    return rows + [("warning", m) for m in traces.warnings]


def _as_kwargs(options: Options) -> dict:
    return {"clean": options.clean, "weight": options.weight, "engine": options.engine}


def _journey_words(study) -> set[str]:
    """The labels of the study's touchpoints, stages and personas, in both languages (not names)."""
    j, words = study.journey, set()
    for lang in ("fr", "en"):
        for frame in (j.touchpoints_frame(lang), j.stages_frame(lang), j.personas_frame(lang)):
            words |= set(frame["label"].dropna().astype(str))
    return words


def _private_excerpts(excerpts: pd.DataFrame, salt: str, language: str = "fr", keep=()) -> pd.DataFrame:
    """Scrub the excerpts' text (:func:`parcours_research.privacy.study_scrubber`: names, e-mails,
    phones, bank and identity numbers, addresses) and pseudonymise their participant and
    customer ids."""
    from .privacy import pseudonymise, study_scrubber

    out = excerpts.copy()
    out["text"] = study_scrubber(language, participants=out["participant"], keep=keep).scrub_series(
        out["text"].astype("string"))
    for col in ("participant", "customer_id"):
        if col in out.columns and out[col].notna().any():
            out[col] = pseudonymise(out[col].astype("string"), salt)
    return out


def _private_conflicts(conflicts: pd.DataFrame, salt: str) -> pd.DataFrame:
    """The identity conflicts with device and customer ids pseudonymised (the same customer
    gets the same pseudonym as in every other table of the study)."""
    from .privacy import pseudonymise_ids

    return pseudonymise_ids(conflicts, salt)


_CACHE_LOCK = threading.Lock()
_RAW_LOCK = threading.Lock()


def raw_events(study, *, engine=None, keep: bool = True):
    """The study's event log as read (:func:`parcours_research.traces.read_events`), read once
    per engine and kept on the study: ``validate`` and every prepared evidence of the study
    share it, so a report that validates, then prepares, reads the log once. Without
    ``engine``, the study's own (:func:`study_engine`). ``keep=False`` leaves a text log on its
    file for now (the report's validation keeps it in the engine's memory in a thread, see
    :func:`parcours_research.checks.validate`); the next call with ``keep=True`` keeps it."""
    engine = engine if engine is not None else study_engine(study)
    key = id(engine) if engine is not None else None
    with _RAW_LOCK:
        if key not in study._raw_events:
            from .traces import read_events

            study._raw_events[key] = read_events(study, engine=engine)
        log = study._raw_events[key]
        if keep and not getattr(log, "_keep_tried", False):
            log._keep_tried = True
            _keep_read(log, study)
        return log


#: a study's text event log (CSV, JSON Lines) of at most this many bytes of text (a compressed
#: file counted at ``_COMPRESSION`` times its size) is read into the engine's memory once
#: (:func:`_keep_read`); a larger one is read from its files at each pass
KEEP_READ_BYTES = 1 << 30
_COMPRESSION = {".gz": 8, ".zst": 8, ".bz2": 10, ".xz": 10}


def _keep_read(log, study) -> None:
    """Read a study's text event log once into the DuckDB engine's memory: ``validate``,
    ``clean`` and ``stitch`` then scan a table rather than parse the file again each time (a
    compressed CSV of a million events was parsed about eight times per report). The rows,
    their ``row_id`` and every column are those of the file's view, which now reads the
    table under the same name. Parquet (columnar, cheap to scan), Spark, URIs and logs over
    :data:`KEEP_READ_BYTES` stay lazy. A file the engine cannot read is left to the first
    query, which says why in its usual words."""
    origin = getattr(log, "_origin", None)
    eng = log.engine
    if not origin or origin.get("counted") or eng.name != "duckdb" or not _small_text(study):
        return
    from .traces.io import keep_in_memory

    try:  # with the timestamps, evaluated once by the time rules (see ``keep_in_memory``)
        keep_in_memory(log)
    except Exception:  # noqa: BLE001 - reported by the first query of the lazy view
        return


def _small_text(study) -> bool:
    """Whether the study's event files are local and hold at most :data:`KEEP_READ_BYTES`."""
    from pathlib import Path

    files = tuple(study.traces.sources) or (study.traces.events,)
    total = 0
    for f in files:
        if not isinstance(f, Path) or not f.is_file():
            return False
        total += f.stat().st_size * _COMPRESSION.get(f.suffix.lower(), 1)
    return total <= KEEP_READ_BYTES


_ENGINE_LOCK = threading.Lock()
_DEFAULT_ENGINES: dict = {}


def study_engine(study):
    """The engine of the study's trace pipeline, from ``traces: engine:`` in study.yml, built
    the first time it is asked for and kept on the study; None for the embedded default
    (:func:`parcours_research.traces.default_engine`).

    ``engine: spark`` starts a Spark session (``master:`` a cluster's URL such as
    ``spark://host:7077``, else two local cores; ``config:`` any Spark settings, e.g.
    ``spark.executor.memory: 4g``); ``engine: {name: duckdb, threads: 4, memory_limit: 8GB}``
    a DuckDB connection of its own.
    """
    cfg = study.traces
    if cfg is None or (cfg.engine == "duckdb" and not cfg.engine_options):
        return None
    with _ENGINE_LOCK:
        if study._engine is None:
            study._engine = _build_engine(cfg.engine, dict(cfg.engine_options))
        return study._engine


def _build_engine(name: str, options: dict):
    """An engine from a study's ``traces: engine:`` settings (checked when it was loaded)."""
    from .traces.engine import DuckDBEngine, SparkEngine

    if name == "duckdb":
        return DuckDBEngine(threads=options.get("threads"), memory_limit=options.get("memory_limit"))
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise StudyError(
            "study.yml asks for the Spark engine, but pyspark is not installed.",
            [Problem("no pyspark", "study.yml", column="traces.engine",
                     fix="pip install 'parcours-research[spark]' (and Java 17+), or remove `engine: spark`")],
        ) from exc
    if not options:
        return SparkEngine()  # two local cores, the kit's defaults
    builder = SparkSession.builder.master(options.get("master") or "local[2]").appName("parcours_research")
    for key, value in {"spark.sql.session.timeZone": "UTC", **options.get("config", {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    running = session.sparkContext.master
    if options.get("master") and running != options["master"]:  # one session per process
        import warnings

        from .errors import ParcoursWarning

        warnings.warn(
            f"study.yml asks for the Spark master {options['master']!r}, but this process "
            f"already runs a Spark session on {running!r}, which the study uses; stop it "
            "(spark.stop()) before preparing the study to use the study's master.",
            ParcoursWarning,
            stacklevel=4,
        )
    return SparkEngine(session)


def _engine_option(study, engine):
    """``prepare``'s ``engine=``: an Engine as it is, None for the study's own engine, a name
    (``"duckdb"``, ``"spark"``) for the study's engine of that name or else a default one."""
    from .traces.engine import Engine, default_engine

    if engine is None or isinstance(engine, Engine):
        return engine
    from .study import TRACE_ENGINES, _did_you_mean

    name = engine.strip().lower() if isinstance(engine, str) else engine
    if name not in TRACE_ENGINES:
        raise StudyError(
            f"engine={engine!r} is not an engine: "
            f"{_did_you_mean(name, TRACE_ENGINES) if isinstance(name, str) else ''}"
            "pass 'duckdb', 'spark' or an Engine such as pr.traces.SparkEngine(spark)."
        )
    if study.traces is not None and study.traces.engine == name:
        return None
    if name == "duckdb":
        return default_engine()
    with _ENGINE_LOCK:  # one default Spark engine per process, as one session
        if "spark" not in _DEFAULT_ENGINES:
            _DEFAULT_ENGINES["spark"] = _build_engine("spark", {})
        return _DEFAULT_ENGINES["spark"]


_UNSET = object()


def prepare(study, *, clean: bool | dict = _UNSET, weight: str | None = _UNSET,
            engine=_UNSET) -> Evidence:
    """The prepared evidence of a study under these options, built once and kept on the study.

    Parameters
    ----------
    study : Study or Evidence
        A loaded study (:func:`parcours_research.load_study`). Prepared evidence is returned
        as it is, or under the options given here (the others kept).
    clean : bool or dict, default True
        Clean the event log (bots, duplicates, unusable rows) before stitching; a dict gives
        options of :func:`parcours_research.traces.clean`, e.g. ``{"bots_behaviour": False}``
        for a sensitivity analysis (another prepared state).
    weight : {"default", "rake", "design", None} or str, default "default"
        The weighting rule of :func:`parcours_research.weighting.study_weights`: by default
        raked to the study's margins when it has margins, else the survey's design weights,
        else none.
    engine : Engine, {"duckdb", "spark"} or None, optional
        Where the event log is read and every trace analysis of this prepared evidence runs
        (friction tests, paths, pyramid, funnel, report): default (None) the study's engine,
        ``traces: engine:`` in study.yml (:func:`study_engine`; the embedded DuckDB when
        absent). A name picks the study's engine of that name, else a default one (a local
        Spark session for ``"spark"``); an unknown name is an error.

    Returns
    -------
    Evidence
        ``.traces`` (:class:`TraceEvidence`), ``.weighting``, ``.responses``, ``.ratings``,
        ``.excerpts``, each computed on first use. The same study and options give the same
        object.
    """
    given = {k: v for k, v in (("clean", clean), ("weight", weight), ("engine", engine))
             if v is not _UNSET}
    if isinstance(study, Evidence):
        if not given or {**_as_kwargs(study.options), **given} == _as_kwargs(study.options):
            return study
        given = {**_as_kwargs(study.options), **given}
        study = study.study
    clean, weight, engine = (given.get("clean", True), given.get("weight", "default"),
                             given.get("engine"))
    from ._inputs import is_study

    if not is_study(study):
        raise StudyError(
            f"prepare() needs a loaded study, not {type(study).__name__}; "
            "use pr.load_study(folder) first."
        )
    if not isinstance(clean, bool | dict):
        raise StudyError(f"clean={clean!r} must be True, False or a dict of pr.traces.clean options.")
    options = Options(clean=clean, weight=weight, engine=_engine_option(study, engine))
    with _CACHE_LOCK:
        ev = study._prepared.get(options.key)
        if ev is None:
            ev = study._prepared[options.key] = Evidence(study, options)
    return ev


def evidence_of(data, **options) -> Evidence | None:
    """The prepared evidence behind ``data`` (a Study or an Evidence, under ``options``), else
    None.

    Analyses that take a study or a table call it; "is this a study?" is answered by
    :func:`parcours_research._inputs.is_study`.
    """
    from ._inputs import is_study

    return prepare(data, **options) if is_study(data) else None
