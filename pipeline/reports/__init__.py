"""Outputs of a run: build-report.json (schema, per-lane adapters) with its Markdown and SVG views, JUnit summaries."""
