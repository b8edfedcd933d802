"""Digital traces: read, clean, stitch identities, sessionize, funnels and paths."""
from .engine import DuckDBEngine, Engine, SparkEngine, default_engine
from .eventlog import CANONICAL, EventLog
from .io import read_events
from .clean import BOT_PATTERNS, REASONS, BotRules, CleaningLog, clean
