"""Questionnaire definitions (YAML), shipped in the package as ``parcours_research.instruments``."""
