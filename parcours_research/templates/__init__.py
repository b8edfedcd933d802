"""Bundled templates: journey stage templates and the report's HTML template."""
