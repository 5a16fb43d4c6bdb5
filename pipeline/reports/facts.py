"""What both lanes' reports share: facts the build printed (Go env, tool versions, fetched
modules), test counts from JUnit, the stage tiers and the report's envelope."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline import __version__
from pipeline.core import spec
from pipeline.reports.schema import SCHEMA_ID


GO_ENV_MARKER = "flamenco-pipeline: effective Go module settings:"
FETCHED_RE = re.compile(r"^flamenco-pipeline: module zips fetched: (\d+)")


TIER_OF = {s.name: s.tier for s in spec.STAGES} | {name: "export" for name in spec.EXPORTS}


def go_env_from_output(lines: Sequence[str]) -> dict | None:
    """The ``go env -json`` object printed after :data:`GO_ENV_MARKER`."""
    it = iter(lines)
    for line in it:
        if line.strip() == GO_ENV_MARKER:
            break
    else:
        return None
    block: list[str] = []
    for line in it:
        block.append(line)
        if line.strip() == "}":
            break
    try:
        value = json.loads("\n".join(block))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def modules_fetched(lines: Sequence[str]) -> int | None:
    """Module zips fetched: the sum of the counts the fetch steps print (go-build fetches the
    binaries' modules, go-deps the rest); None if no step printed one."""
    counts = [int(m.group(1)) for line in lines if (m := FETCHED_RE.match(line.strip()))]
    return sum(counts) if counts else None


_VERSION_PATTERNS = (  # (tool, stage whose output says it, regex)
    ("go", "go-base", re.compile(r"^go version (go\S+)")),
    ("git", "go-base", re.compile(r"^git version (\S+)")),
    ("node", "node-base", re.compile(r"^(v\d+\.\d+\.\d+)$")),
    ("yarn", "node-base", re.compile(r"^(\d+\.\d+\.\d+)$")),
    ("ffmpeg", "worker", re.compile(r"^ffmpeg version (\S+)")),
)


def tool_versions_from_output(outputs: Mapping[str, Sequence[str]], source: str) -> dict[str, dict]:
    """Versions the base/runtime steps print (``go version``, ``node --version``, ...)."""
    found: dict[str, dict] = {}
    for tool, stage, rx in _VERSION_PATTERNS:
        for line in outputs.get(stage, ()):
            if m := rx.match(line.strip()):
                found[tool] = {"version": m.group(1), "source": source}
                break
    return found


def configured_tool_versions(settings_view: Mapping | None) -> dict[str, dict]:
    out = {}
    for tool in ("gotestsum", "staticcheck"):
        v = (settings_view or {}).get(f"{tool}_version")
        if v:
            out[tool] = {"version": str(v), "source": "settings (installed with go install @version)"}
    return out


def test_outcome(junit_xml: Path, source: str | None = None) -> dict | None:
    """Counts of passed/failed/skipped tests (and the failing tests' names) from a JUnit report."""
    from pipeline.reports import junit as junit_summary

    try:
        rep = junit_summary.parse(Path(junit_xml))
    except junit_summary.JUnitError:
        return None
    return {
        "passed": rep.count("passed"), "failed": rep.count("failed"), "skipped": rep.count("skipped"),
        "errors": rep.count("error"), "seconds": round(rep.time, 3),
        "failures": [c.title for c in rep.failed][:20],
        "source": source or f"JUnit report {Path(junit_xml).name}",
    }


def tests_text(tests: Mapping | None) -> str | None:
    """``18 passed, 1 failed, 2 skipped`` (None when no tests ran)."""
    if not tests:
        return None
    failed = tests.get("failed", 0) + tests.get("errors", 0)
    return f"{tests.get('passed', 0)} passed, {failed} failed, {tests.get('skipped', 0)} skipped"


def envelope(lane: str, settings_view, stamp, go_version) -> dict:
    if stamp is not None and not isinstance(stamp, Mapping):
        stamp = {"version": stamp.version, "git_hash": stamp.git_hash, "release_cycle": stamp.release_cycle}
    return {
        "schema": SCHEMA_ID,
        "lane": lane,
        "pipeline": {"name": "flamenco-pipeline", "version": __version__, "lane": lane},
        "stamp": dict(stamp) if stamp else None,
        "go_version": go_version,
        "settings": settings_view,
    }
