"""build-report.json: its schema (``"schema": "flamenco-pipeline/build-report@1"``) and file names.

The JSON is the record; the Markdown (what CI puts in the job summary, and what
``flamenco-pipeline report`` renders, pipeline.reports.markdown) and the SVG Gantt chart
(pipeline.reports.svg) are views of it. Where the numbers come from, per lane:
pipeline.reports.docker_adapter (BuildKit's plain progress) and
pipeline.reports.dagger_adapter (wall clock around each stage's ``sync()``); both take the
facts the build printed from pipeline.reports.facts. pipeline.reports.files writes all three.

Imports stay light: the CLI's ``report`` command and the Dagger module both use this.
"""

from __future__ import annotations


SCHEMA_ID = "flamenco-pipeline/build-report@1"


FILES = {"json": "build-report.json", "markdown": "build-report.md", "svg": "build-timeline.svg"}

_NUM = {"type": "number", "minimum": 0}
_NUM_OR_NULL = {"type": ["number", "null"], "minimum": 0}
SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "flamenco-pipeline build report",
    "type": "object",
    "required": ["schema", "lane", "pipeline", "timing", "stages", "critical_path", "images",
                 "tool_versions", "go_module_settings"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "lane": {"enum": ["docker", "dagger"]},
        "pipeline": {
            "type": "object", "required": ["name", "version", "lane"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "lane": {"type": "string"}},
        },
        "stamp": {"type": ["object", "null"]},
        "go_version": {"type": ["string", "null"]},
        "settings": {"type": ["object", "null"]},
        "timing": {
            "type": "object",
            "required": ["method", "wall_seconds", "timeline_seconds", "accuracy"],
            "properties": {
                "method": {"type": "string"},
                "wall_seconds": _NUM_OR_NULL,  # measured around the whole run, if known
                "timeline_seconds": _NUM,  # end of the last stage in the timeline
                "accuracy": {"type": "string"},
            },
        },
        "stages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind", "start", "end", "seconds", "cached", "status"],
                "properties": {
                    "name": {"type": "string"},  # stage, "app@linux/amd64", "(internal)", "(export manager)"
                    "kind": {"enum": ["stage", "internal", "export"]},
                    "tier": {"type": ["string", "null"]},
                    "platform": {"type": ["string", "null"]},
                    "start": _NUM, "end": _NUM,
                    "seconds": _NUM,  # wall: end - start
                    "busy_seconds": _NUM,  # docker lane: time in which one of its steps ran (the rest is waiting)
                    "cached": {"type": ["boolean", "null"]},  # null: the lane cannot tell
                    "status": {"enum": ["ok", "failed", "canceled", "unfinished"]},
                    "targets": {"type": "array", "items": {"type": "string"}},
                    "steps": {"type": "array", "items": {
                        "type": "object", "required": ["start", "end"],
                        "properties": {"start": _NUM, "end": _NUM}}},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
        "critical_path": {
            "type": "object", "required": ["stages", "seconds"],
            "properties": {
                "stages": {"type": "array", "items": {"type": "string"}},
                "seconds": _NUM,
                "segments": {"type": "array", "items": {
                    "type": "object", "required": ["stage", "start", "end", "seconds"],
                    "properties": {"stage": {"type": "string"}, "start": _NUM, "end": _NUM, "seconds": _NUM}}},
            },
        },
        "images": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["ref", "size_bytes"],
                "properties": {"ref": {"type": ["string", "null"]}, "size_bytes": {"type": ["integer", "null"]},
                               "size_of": {"type": "string"}},
            },
        },
        "tool_versions": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["version", "source"],
                "properties": {"version": {"type": "string"}, "source": {"type": "string"}},
            },
        },
        "go_module_settings": {
            "type": "object", "required": ["values", "source"],
            "properties": {"values": {"type": ["object", "null"]}, "source": {"type": "string"},
                           "module_zips_fetched": {"type": ["integer", "null"]}},
        },
        "tests": {  # from the exported JUnit report, when tests ran
            "type": ["object", "null"],
            "required": ["passed", "failed", "skipped", "source"],
            "properties": {
                "passed": {"type": "integer", "minimum": 0}, "failed": {"type": "integer", "minimum": 0},
                "skipped": {"type": "integer", "minimum": 0}, "errors": {"type": "integer", "minimum": 0},
                "seconds": _NUM, "failures": {"type": "array", "items": {"type": "string"}},
                "source": {"type": "string"},
            },
        },
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}


def validation_error(report) -> str | None:
    """The first way `report` breaks SCHEMA ('where: what'), else None. No dependency needed."""
    from pipeline.core.schema_check import first_error

    return first_error(report, SCHEMA)
