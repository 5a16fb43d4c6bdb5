"""build-report.json, build-report.md and build-timeline.svg, for both lanes.

The JSON (``SCHEMA`` below, ``"schema": "flamenco-pipeline/build-report@1"``)
is the record; the Markdown (what CI puts in the job summary, and what
``flamenco-pipeline report`` renders) and the SVG Gantt chart are views of it.

Where the numbers come from, per lane:

* **docker**: BuildKit's plain progress of each ``docker build``
  (:mod:`pipeline.docker_lane.buildkit_log`): per-step durations and cache hits as BuildKit
  printed them, start times reconstructed from durations + completion order +
  stage dependencies (the earliest consistent schedule: a lower bound, see
  :func:`pipeline.docker_lane.buildkit_log.timeline`), and the effective Go module settings
  from the ``go env -json`` block that the go-deps step prints.
* **dagger**: wall clock around each stage's ``sync()`` from the start of the
  call; a stage's start is taken as the latest end of the stages it depends on
  (the engine cannot start it earlier). Cache hits are not visible there.

Imports stay light (json, re, dataclasses): the CLI's ``report`` command and
the Dagger module both use this.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from pipeline import __version__
from pipeline.docker_lane import buildkit_log
from pipeline.core import spec

SCHEMA_ID = "flamenco-pipeline/build-report@1"
GO_ENV_MARKER = "flamenco-pipeline: effective Go module settings:"
FETCHED_RE = re.compile(r"^flamenco-pipeline: module zips fetched: (\d+)")
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

TIER_OF = {s.name: s.tier for s in spec.STAGES} | {name: "export" for name in spec.EXPORTS}
DOCKER_PARENTS: dict[str, str | None] = {s.name: s.parent for s in spec.STAGES} | {n: None for n in spec.EXPORTS}

DOCKER_ACCURACY = (
    "Per-step durations and cache hits are BuildKit's own (DONE is rounded to 0.1 s). Docker 20.10's "
    "plain progress has no absolute times, so starts are reconstructed: each step starts when the steps "
    "it depends on have ended and ends no earlier than the step printed as finished before it (plain "
    "output lists completed steps in completion order). That is the earliest schedule consistent with the "
    "log, so starts and ends are lower bounds; time no constraint explains (waiting outside any step, "
    "client start-up) is not placed and shows as the difference between wall and timeline seconds."
)
DAGGER_ACCURACY = (
    "Wall clock in the Dagger module from the start of the evaluation to each stage's sync() returning; "
    "a stage's start is the latest end of the stages it depends on. Stages share work (a stage's sync "
    "also waits for its ancestors), so 'end' is exact to the event loop and 'start' is derived. Cache "
    "hits are not visible through the SDK (cached = null)."
)

# Flamenco's own Docker build, as published by its developers (critical path, seconds).
ORIGINAL_BREAKDOWN = (
    ("system packages", 377, ("go-base", "node-base", "python-base")),
    ("Go modules", 84, ("go-deps",)),
    ("Python", 54, ("addon",)),
    ("Node", 6, ("web-deps", "webapp")),
    ("tools", 13, ("gotestsum", "staticcheck")),
    ("compile", 12, ("go-source", "app")),
)
ORIGINAL_TOTAL = 9 * 60 + 29


# --------------------------------------------------------------------------- #
# facts printed inside the build


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
    for line in lines:
        if m := FETCHED_RE.match(line.strip()):
            return int(m.group(1))
    return None


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


# --------------------------------------------------------------------------- #
# docker lane


@dataclass
class TargetLog:
    """The plain progress of one ``docker build --target <target>``."""

    target: str
    text: str
    started: float | None = None  # seconds after the first build started; None: after the previous one
    seconds: float | None = None  # measured wall time of this docker build, if known


def _stage_label(v: buildkit_log.Vertex, target: str) -> tuple[str, str]:
    if v.is_step:
        return v.stage or "?", "stage"
    if v.is_export:
        return f"(export {target})", "export"
    return "(internal)", "internal"


_STEP_NAME = re.compile(r"step '([^']+)' took longer than")
_COPY_ARGS = re.compile(r"\[([^,\]]+), ([^\]]+)\]\s*$")


def step_name(v: buildkit_log.Vertex) -> str:
    """A step's name for the report: the spec's Run name (every step script carries it in its
    time-limit message), else what a COPY brings where, else the instruction's short title."""
    if m := _STEP_NAME.search(v.title):
        return m.group(1)
    if v.instruction in ("COPY", "ADD") and (m := _COPY_ARGS.search(v.title)):
        src = f"{v.copy_from}:{m.group(1)}" if v.copy_from else m.group(1)
        return f"copy {src} -> {m.group(2)}"
    return _short_title(v.title, 60)


def _short_title(title: str, limit: int = 90) -> str:
    t = title.split("] ", 1)[-1] if title.startswith("[") else title
    t = re.sub(r"--mount=\S+\s*", "", t)
    return t if len(t) <= limit else t[: limit - 1] + "…"


def docker_lane_report(
    logs: Mapping[str, str] | Sequence[TargetLog],
    images: Mapping[str, str] | None = None,
    *,
    settings=None,
    stamp=None,
    go_version: str | None = None,
    parents: Mapping[str, str | None] | None = None,
    inspect: bool = True,
    tests: Mapping | None = None,
) -> dict:
    """build-report.json (as a dict) from the plain progress of ``docker build`` runs.

    ``logs``: ``{target: text}`` for builds run one after another, or
    :class:`TargetLog` items (with ``started``/``seconds`` for concurrent or
    timed builds). ``images``: ``{"manager": tag, ...}`` whose sizes are read
    with ``docker image inspect`` (``inspect=False``: no docker calls at all,
    sizes null). ``settings``/``stamp``/``go_version``: what the build was given.
    """
    if isinstance(logs, Mapping):
        items = [TargetLog(t, text) for t, text in logs.items()]
    else:
        items = list(logs)
    parents = DOCKER_PARENTS if parents is None else parents

    chosen: dict[tuple, dict] = {}  # (stage label, step index or title) -> the instance to report
    seen_in: dict[tuple, set[str]] = {}  # ... -> targets whose build had that step
    outputs: dict[str, list[str]] = {}
    go_env, fetched, go_env_target = None, None, None
    errors: list[str] = []
    wall_end = 0.0
    parsed = [buildkit_log.parse(item.text) for item in items]
    all_spans = _aligned_timelines(items, parsed, parents)
    for item, log, (offset, spans) in zip(items, parsed, all_spans):
        makespan = max((s.end for s in spans.values()), default=0.0)
        took = item.seconds if item.seconds is not None else makespan
        wall_end = max(wall_end, offset + took)
        if log.error:
            errors.append(f"{item.target}: {log.error.splitlines()[0]}")
        for v in log.vertices:
            span = spans.get(v.id)
            start, end = (span.start + offset, span.end + offset) if span else (offset, offset)
            label, kind = _stage_label(v, item.target)
            lines = [t for _, t in v.output]
            if lines and v.stage:
                outputs.setdefault(v.stage, []).extend(lines)
            if go_env is None and v.stage == "go-deps" and go_env_from_output(lines) is not None:
                go_env, fetched, go_env_target = go_env_from_output(lines), modules_fetched(lines), item.target
            inst = {
                "stage": label, "kind": kind, "index": v.index, "instruction": v.instruction,
                "name": step_name(v) if v.is_step else None,
                "title": _short_title(v.title), "cached": v.cached, "status": v.status,
                "seconds": v.seconds if v.seconds is not None else (None if v.cached else round(v.duration, 3)),
                "start": round(start, 3), "end": round(end, 3), "error": v.error, "platform": v.platform,
            }
            key = (label, v.index if v.is_step else v.title)
            seen_in.setdefault(key, set()).add(item.target)
            if key not in chosen or _better(inst, chosen[key]):
                chosen[key] = inst
    for key, inst in chosen.items():
        inst["targets"] = sorted(seen_in[key])

    stages = _group_stages(chosen.values())
    path = _stage_critical_path(stages)
    settings_view = _settings_view(settings)
    tools = configured_tool_versions(settings_view)
    tools |= tool_versions_from_output(outputs, "build log (step output)")
    if inspect:
        tools |= {k: v for k, v in _engine_version().items() if k not in tools}
    if go_env and "go" not in tools and go_env.get("GOVERSION"):
        tools["go"] = {"version": go_env["GOVERSION"], "source": "build log (go env -json)"}
    notes = []
    if go_env is None:
        notes.append("The go-deps step was cached in every build of this run, so its `go env -json` output "
                     "is not in the logs: Go module settings unknown for this run.")
    missing = [t for t in ("go", "node", "yarn") if t not in tools]
    if missing:
        notes.append(f"Not in the logs (base steps cached): {', '.join(missing)} version.")
    notes += errors
    report = _envelope("docker", settings_view, stamp, go_version)
    report |= {
        "timing": {
            "method": "buildkit plain progress (docker build --progress=plain)",
            "wall_seconds": round(wall_end, 3) if any(i.seconds is not None for i in items) else None,
            "timeline_seconds": round(max((s["end"] for s in stages), default=0.0), 3),
            "accuracy": DOCKER_ACCURACY,
        },
        "targets": [{"target": i.target, "started": i.started, "seconds": i.seconds} for i in items],
        "stages": stages,
        "critical_path": path,
        "images": _images(images, inspect),
        "tool_versions": dict(sorted(tools.items())),
        "go_module_settings": {
            "values": go_env,
            "source": (f"go env -json printed by the go-deps step (build log of target {go_env_target})"
                       if go_env is not None else "not in the build logs (go-deps cached)"),
            "module_zips_fetched": fetched,
        },
        "tests": dict(tests) if tests else None,
        "notes": notes,
    }
    return report


def _step_key(v: buildkit_log.Vertex) -> tuple | None:
    return (v.stage, v.index) if v.is_step else None


def _aligned_timelines(items: Sequence[TargetLog], parsed: list, parents) -> list[tuple[float, dict]]:
    """Each log's timeline, placed on one clock (offset, spans).

    Builds without ``started`` follow the previous one. When builds overlap, a
    step one of them ran is a cache hit in the others, which could not happen
    before it was done there: those cache hits get a ``not_before``, and the
    timelines are recomputed until nothing moves (a few rounds)."""
    offsets: list[float] = []
    spans_list = [buildkit_log.timeline(log, parents) for log in parsed]
    nxt = 0.0
    for item, spans in zip(items, spans_list):
        off = item.started if item.started is not None else nxt
        offsets.append(off)
        nxt = off + (item.seconds if item.seconds is not None else max((s.end for s in spans.values()), default=0.0))
    for _ in range(5):
        ran_until: dict[tuple, float] = {}
        for off, log, spans in zip(offsets, parsed, spans_list):
            for v in log.vertices:
                if (key := _step_key(v)) and not v.cached and v.id in spans:
                    ran_until[key] = min(ran_until.get(key, math.inf), off + spans[v.id].end)
        new = []
        for off, log in zip(offsets, parsed):
            nb = {v.id: ran_until[key] - off for v in log.vertices
                  if v.cached and (key := _step_key(v)) in ran_until and ran_until[key] > off}
            new.append(buildkit_log.timeline(log, parents, nb))
        moved = any(a[i].end != b[i].end for a, b in zip(spans_list, new) for i in a)
        spans_list = new
        if not moved:
            break
    return list(zip(offsets, spans_list))


def _better(a: dict, b: dict) -> bool:
    """Report the instance that ran (not a cache hit), earliest first."""
    ran_a, ran_b = not a["cached"], not b["cached"]
    if ran_a != ran_b:
        return ran_a
    return a["start"] < b["start"]


def _group_stages(instances) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for inst in instances:
        groups.setdefault(inst["stage"], []).append(inst)
    stages = []
    for name, steps in groups.items():
        steps.sort(key=lambda s: (s["index"] or 0, s["start"]))
        kind = steps[0]["kind"]
        meaningful = [s for s in steps if s["instruction"] != "FROM"] or steps
        statuses = {s["status"] for s in steps}
        status = ("failed" if "error" in statuses else "canceled" if "canceled" in statuses
                  else "unfinished" if "running" in statuses else "ok")
        # the span covers the steps that took time; cache hits and image look-ups cost nothing and
        # are printed whenever BuildKit got to them, so they would stretch a stage that did not wait
        timed = [s for s in steps if s["end"] > s["start"]] or steps
        start = min(s["start"] for s in timed)
        end = max(s["end"] for s in timed) if timed is not steps else start
        busy = _union_length([(s["start"], s["end"]) for s in steps])
        targets = sorted({t for s in steps for t in s["targets"]})
        stages.append({
            "name": name, "kind": kind, "tier": TIER_OF.get(name), "platform": steps[0]["platform"],
            "start": round(start, 3), "end": round(end, 3), "seconds": round(end - start, 3),
            "busy_seconds": round(busy, 3),
            "cached": all(s["cached"] or (s["instruction"] == "FROM" and not s["seconds"]) for s in meaningful)
            if kind == "stage" else None,
            "status": status, "targets": targets,
            "error": next((s["error"] for s in steps if s["error"]), None),
            "steps": [{k: s.get(k) for k in ("index", "instruction", "name", "title", "cached", "seconds", "start",
                                             "end", "status")}
                      for s in steps] if kind != "internal" else [],
        })
    stages.sort(key=lambda s: (s["start"], s["end"], s["name"]))
    return stages


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Seconds in which at least one of the intervals was running."""
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(intervals):
        if cur_b is None or a > cur_b:
            total += (cur_b - cur_a) if cur_b is not None else 0.0
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    return total + ((cur_b - cur_a) if cur_b is not None else 0.0)


def _stage_deps(name: str) -> list[str]:
    if name.startswith("(export ") and name.endswith(")"):
        return [name[len("(export "):-1]]
    if name in spec.EXPORTS:
        return [spec.EXPORTS[name][0]]
    try:
        return spec.dependencies(name)
    except KeyError:
        return []


def _stage_critical_path(stages: list[dict]) -> dict:
    """From the stage (or export) that ended last, back through the dependency that ended last."""
    by = {s["name"]: s for s in stages if s["kind"] != "internal"}
    if not by:
        return {"stages": [], "seconds": 0.0, "segments": []}
    failed = [s for s in by.values() if s.get("status") == "failed"]
    # a failed run's path ends at the (first) failure: what was cancelled after it did not hold anything up
    cur = min(failed, key=lambda s: (s["end"], s["start"])) if failed else max(
        (s for s in by.values() if s.get("status") != "canceled"), key=lambda s: (s["end"], s["start"]),
        default=max(by.values(), key=lambda s: (s["end"], s["start"])))
    path = [cur]
    while True:
        deps = [by[d] for d in _stage_deps(cur["name"]) if d in by and by[d]["end"] <= cur["end"] + 1e-6]
        if not deps or max(deps, key=lambda s: s["end"]) in path:
            break
        cur = max(deps, key=lambda s: s["end"])
        path.append(cur)
    path.reverse()
    segments, prev_end = [], None
    for st in path:
        start = st["start"] if prev_end is None else max(st["start"], prev_end)
        segments.append({"stage": st["name"], "start": round(start, 3), "end": st["end"],
                         "seconds": round(st["end"] - start, 3)})
        prev_end = st["end"]
    return {"stages": [s["stage"] for s in segments],
            "seconds": round(path[-1]["end"] - path[0]["start"], 3), "segments": segments}


def _images(images: Mapping[str, str] | None, inspect: bool) -> dict:
    out = {}
    for kind, ref in (images or {}).items():
        out[kind] = {"ref": ref, "size_bytes": _image_size(ref) if inspect else None,
                     "size_of": "image (docker image inspect .Size)"}
    return out


def _image_size(ref: str) -> int | None:
    from pipeline.docker_lane.build import docker_binary, docker_env

    try:
        proc = subprocess.run([docker_binary(), "image", "inspect", "--format", "{{.Size}}", ref],
                              capture_output=True, text=True, env=docker_env(), timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return int(out) if proc.returncode == 0 and out.isdigit() else None


def _engine_version() -> dict[str, dict]:
    from pipeline.docker_lane.build import docker_binary, docker_env

    try:
        proc = subprocess.run([docker_binary(), "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, env=docker_env(), timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    v = proc.stdout.strip()
    return {"docker engine": {"version": v, "source": "docker version"}} if proc.returncode == 0 and v else {}


def _settings_view(settings) -> dict | None:
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        return dict(settings)
    from pipeline.core.settings import public_view

    return public_view(settings)


def _envelope(lane: str, settings_view, stamp, go_version) -> dict:
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


# --------------------------------------------------------------------------- #
# dagger lane


def dagger_lane_report(
    timings: Mapping[str, dict],
    *,
    settings_view: Mapping | None = None,
    stamp=None,
    go_version: str | None = None,
    images: Mapping[str, dict] | None = None,
    go_deps_output: str | None = None,
    base_outputs: Mapping[str, str] | None = None,
    wall_seconds: float | None = None,
    extra: Mapping | None = None,
    tests: Mapping | None = None,
) -> dict:
    """build-report.json from ``FlamencoPipeline._evaluate`` timings.

    ``timings``: ``{"go-deps": {"started", "finished", "ok", "error"?}, "app@linux/amd64": ...}``.
    ``go_deps_output``: stdout of the go-deps download step (its ``go env -json``);
    ``base_outputs``: ``{"go-base": stdout, "node-base": stdout}`` for tool versions.
    """
    ends = {name: float(t["finished"]) for name, t in timings.items()}

    def deps_of(name: str) -> list[str]:
        stage_name, _, platform = name.partition("@")
        out = []
        for d in spec.dependencies(stage_name):
            cand = [f"{d}@{platform}", d] if platform else [d]
            out += [c for c in cand if c in ends][:1]
        return out

    stages, start_of = [], {}
    for name, t in timings.items():
        deps = deps_of(name)
        start = max((ends[d] for d in deps), default=float(t.get("started", 0.0)))
        start = min(start, ends[name])
        start_of[name] = (start, max(deps, key=lambda d: ends[d]) if deps else None)
        stage_name, _, platform = name.partition("@")
        stages.append({
            "name": name, "kind": "stage", "tier": TIER_OF.get(stage_name), "platform": platform or None,
            "start": round(start, 3), "end": round(ends[name], 3), "seconds": round(ends[name] - start, 3),
            "cached": None, "status": "ok" if t.get("ok", True) else "failed", "error": t.get("error"),
        })
    stages.sort(key=lambda s: (s["start"], s["end"], s["name"]))
    path: list[str] = []
    if ends:
        failed = [n for n, t in timings.items() if not t.get("ok", True)]
        cur = min(failed, key=lambda n: ends[n]) if failed else max(ends, key=lambda n: ends[n])
        while cur is not None and cur not in path:
            path.append(cur)
            cur = start_of[cur][1]
        path.reverse()
    segments = [{"stage": n, "start": round(start_of[n][0], 3), "end": round(ends[n], 3),
                 "seconds": round(ends[n] - start_of[n][0], 3)} for n in path]
    go_lines = (go_deps_output or "").splitlines()
    go_env = go_env_from_output(go_lines)
    tools = configured_tool_versions(settings_view)
    tools |= tool_versions_from_output({k: v.splitlines() for k, v in (base_outputs or {}).items()},
                                       "stage stdout (inside the build)")
    if go_env and "go" not in tools and go_env.get("GOVERSION"):
        tools["go"] = {"version": go_env["GOVERSION"], "source": "go env -json (inside the build)"}
    timeline_end = max(ends.values(), default=0.0)
    report = _envelope("dagger", dict(settings_view) if settings_view else None, stamp, go_version)
    report |= {
        "timing": {
            "method": "wall clock around each stage's sync() in the Dagger module",
            "wall_seconds": round(wall_seconds, 3) if wall_seconds is not None else None,
            "timeline_seconds": round(timeline_end, 3),
            "accuracy": DAGGER_ACCURACY,
        },
        "stages": stages,
        "critical_path": {"stages": path, "seconds": round((segments[-1]["end"] - segments[0]["start"]) if segments else 0.0, 3),
                          "segments": segments},
        "images": dict(images or {}),
        "tool_versions": dict(sorted(tools.items())),
        "go_module_settings": {
            "values": go_env,
            "source": "go env -json printed by the go-deps step (its stdout)" if go_env is not None
            else "not available (the go-deps step's output could not be read)",
            "module_zips_fetched": modules_fetched(go_lines),
        },
        "tests": dict(tests) if tests else None,
        "notes": ["Dagger-lane timings are this run's wall clock around each stage's sync() inside the module: "
                  "they include the engine's scheduling, and a stage answered from the cache shows as short."],
    }
    report |= dict(extra or {})
    return report


# --------------------------------------------------------------------------- #
# views


def _fmt_s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


_MD_SPECIAL = str.maketrans({"|": "\\|", "<": "&lt;", "[": "\\[", "]": "\\]", "`": "'",
                             "\n": " ", "\r": " "})


def _md_inert(value):
    """Every string of a report as inert Markdown text: no table breaks, HTML tags (no `<`), links, images or code spans."""
    if isinstance(value, str):
        from pipeline.core.validate import one_line

        return one_line(value).translate(_MD_SPECIAL)
    if isinstance(value, Mapping):
        return {_md_inert(k): _md_inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_md_inert(v) for v in value]
    return value


def render_markdown(report: Mapping, svg_name: str | None = FILES["svg"]) -> str:
    """build-report.md: summary, timeline link, stage table, critical path, images, Go settings, tools.

    A report may come from a pull request's CI run: its strings are made inert first.
    """
    report = _md_inert(report)
    lane = report.get("lane", "?")
    stamp = report.get("stamp") or {}
    timing = report.get("timing", {})
    stages = report.get("stages", [])
    path = report.get("critical_path", {})
    on_path = set(path.get("stages", []))
    real = [s for s in stages if s.get("kind") == "stage"]
    cached = [s for s in real if s.get("cached")]
    lines = [f"# Build report ({lane} lane)", ""]
    head = []
    if stamp:
        head.append(f"Flamenco {stamp.get('version')} ({stamp.get('git_hash')}, {stamp.get('release_cycle')})")
    if report.get("go_version"):
        head.append(f"Go {report['go_version']}")
    head.append(f"flamenco-pipeline {report.get('pipeline', {}).get('version', '?')}")
    lines += [" · ".join(head), ""]
    summary = []
    if timing.get("wall_seconds") is not None:
        summary.append(f"**Wall time:** {timing['wall_seconds']:.1f} s measured")
    summary.append(f"**Timeline:** {timing.get('timeline_seconds', 0):.1f} s")
    if path.get("stages"):
        summary.append(f"**Critical path:** {' → '.join(path['stages'])} ({path.get('seconds', 0):.1f} s)")
    if real and any(s.get("cached") is not None for s in real):
        summary.append(f"**Cache:** {len(cached)} of {len(real)} stages were cache hits")
    if text := tests_text(report.get("tests")):
        summary.append(f"**Tests:** {text}")
    failed = [s["name"] for s in stages if s.get("status") == "failed"]
    if failed:
        summary.append(f"**Failed:** {', '.join(failed)}")
    canceled = [s["name"] for s in stages if s.get("status") == "canceled"]
    if canceled:
        summary.append(f"**Cancelled (by the failure):** {', '.join(canceled)}")
    lines += [" · ".join(summary), ""]
    failing_tests = (report.get("tests") or {}).get("failures") or []
    if failing_tests:
        lines += ["Failing tests: " + ", ".join(f"`{t}`" for t in failing_tests[:10])
                  + (" …" if len(failing_tests) > 10 else ""), ""]
    if svg_name:
        lines += [f"![Stage timeline: bars over time, critical path marked]({svg_name})", "",
                  f"[Timeline (SVG)]({svg_name})", ""]
    lines += ["## Stages", "",
              "| stage | tier | start (s) | end (s) | wall (s) | busy (s) | cache | critical path |",
              "|---|---|---:|---:|---:|---:|---|:---:|"]
    internal = [s for s in stages if s.get("kind") == "internal"]
    for s in stages:
        if s.get("kind") == "internal":
            continue  # BuildKit's own loads: summed up below the table
        cache = {True: "hit", False: "ran", None: "–"}[s.get("cached")]
        status = s.get("status")
        if status == "failed":
            cache = f"{cache}, **FAILED**"
        elif status == "canceled":
            cache = "cancelled (by the failure)"
        elif status not in (None, "ok"):
            cache = f"{cache}, {status}"
        lines.append(f"| {s['name']} | {s.get('tier') or '–'} | {s['start']:.1f} | {s['end']:.1f} | {s['seconds']:.1f} | "
                     f"{_fmt_s(s.get('busy_seconds'))} | {cache} | {'●' if s['name'] in on_path else ''} |")
    if internal:
        busy = sum(s.get("busy_seconds") or s["seconds"] for s in internal)
        lines += ["", f"Not shown: BuildKit's own work (loading the Dockerfile, the build context and image "
                      f"metadata), {busy:.1f} s in all."]
    lines.append("")
    lines += _steps_table(stages)
    if path.get("segments"):
        lines += ["## Critical path", "", "| stage | start (s) | end (s) | seconds |", "|---|---:|---:|---:|"]
        for seg in path["segments"]:
            lines.append(f"| {seg['stage']} | {seg['start']:.1f} | {seg['end']:.1f} | {seg['seconds']:.1f} |")
        lines.append(f"| **total** | | | **{path.get('seconds', 0):.1f}** |")
        lines.append("")
    imgs = report.get("images") or {}
    if imgs:
        lines += ["## Images", "", "| image | reference | size |", "|---|---|---:|"]
        for kind, info in imgs.items():
            lines.append(f"| {kind} | `{info.get('ref')}` | {_fmt_bytes(info.get('size_bytes'))} |")
        lines.append("")
    gms = report.get("go_module_settings") or {}
    lines += ["## Go module settings", "", f"From: {gms.get('source', 'unknown')}.", ""]
    if gms.get("values"):
        lines += ["| variable | value |", "|---|---|"]
        for k, v in sorted(gms["values"].items()):
            lines.append(f"| {k} | `{v}` |" if v != "" else f"| {k} | (empty) |")
        if gms.get("module_zips_fetched") is not None:
            lines.append(f"| module zips fetched | {gms['module_zips_fetched']} |")
        lines.append("")
    tools = report.get("tool_versions") or {}
    if tools:
        lines += ["## Tool versions", "", "| tool | version | from |", "|---|---|---|"]
        for k, v in tools.items():
            lines.append(f"| {k} | {v['version']} | {v['source']} |")
        lines.append("")
    lines += ["## How this was measured", "", timing.get("accuracy", ""), ""]
    for note in report.get("notes") or []:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def _steps_table(stages: Sequence[Mapping]) -> list[str]:
    """One row per named step inside the stages (not FROM/WORKDIR), so a long compile inside a
    stage shows as itself. Empty when the lane records no steps (the Dagger lane times stages)."""
    rows = [(s, st) for s in stages if s.get("kind") == "stage"
            for st in s.get("steps") or [] if st.get("instruction") not in ("FROM", "WORKDIR", None)]
    if not rows:
        return []
    out = ["## Steps", "", "| stage | step | start (s) | end (s) | seconds | cache |", "|---|---|---:|---:|---:|---|"]
    for s, st in rows:
        cache = "hit" if st.get("cached") else st.get("status") if st.get("status") not in ("done", None) else "ran"
        took = 0.0 if st.get("cached") else (st.get("seconds") if st.get("seconds") is not None
                                              else st["end"] - st["start"])
        name = (st.get("name") or st.get("title") or "").replace("|", "\\|")
        out.append(f"| {s['name']} | {name} | {st['start']:.1f} | {st['end']:.1f} | {took:.1f} | {cache} |")
    return out + [""]


# colours: readable on light and dark GitHub themes (the chart has its own white background)
_C_BAR, _C_CRIT, _C_CACHED, _C_FAIL, _C_GRID, _C_TEXT = "#4c6ef5", "#e8590c", "#adb5bd", "#c92a2a", "#dee2e6", "#212529"
_C_CANCEL = "#f2c94c"  # drawn faded with a dashed outline


#: The time axis never has more than this many ticks, whatever the report says.
MAX_TICKS = 12


def _tick_step(total: float) -> float:
    """A round step giving at most MAX_TICKS ticks for any finite total (1e308 included)."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200):
        if total / step <= MAX_TICKS:
            return step
    base = 10.0 ** math.floor(math.log10(total / MAX_TICKS))
    for m in (1, 2, 5, 10):
        if total / (m * base) <= MAX_TICKS:
            return m * base
    return 10 * base


def validation_error(report) -> str | None:
    """The first way `report` breaks SCHEMA ('where: what'), else None. No dependency needed."""
    from pipeline.core.schema_check import first_error

    return first_error(report, SCHEMA)


def render_svg(report: Mapping) -> str:
    """build-timeline.svg: one row per stage, bars over time, critical path in orange.

    Plain SVG (no script, no CSS, no external references), text labels, a white
    background: GitHub shows it as an image, in light and dark mode.
    """
    stages = [s for s in report.get("stages", []) if s.get("kind") != "internal"]  # BuildKit's own loads
    on_path = set(report.get("critical_path", {}).get("stages", []))
    total = max([report.get("timing", {}).get("timeline_seconds") or 0.0] + [s["end"] for s in stages] + [0.1])
    label_w, bar_w, row_h, top, right = 190, 640, 22, 46, 90
    width = label_w + bar_w + right
    height = top + row_h * max(len(stages), 1) + 80
    x = lambda t: label_w + bar_w * (t / total)  # noqa: E731
    tests = tests_text(report.get("tests"))
    title = (f"Build timeline ({report.get('lane', '?')} lane): {total:.1f} s, "
             f"critical path {report.get('critical_path', {}).get('seconds', 0):.1f} s"
             + (f"; tests: {tests}" if tests else ""))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold" fill="{_C_TEXT}">{escape(title)}</text>',
    ]
    step = _tick_step(total)
    n = min(int(math.floor(total / step + 1e-9)), MAX_TICKS)
    axis_y = top + row_h * max(len(stages), 1)
    for k in range(n + 1):
        t = k * step
        out.append(f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{axis_y}" stroke="{_C_GRID}" stroke-width="1"/>')
        out.append(f'<text x="{x(t):.1f}" y="{axis_y + 14}" text-anchor="middle" fill="{_C_TEXT}">{t:g} s</text>')
    for i, s in enumerate(stages):
        y = top + i * row_h
        crit = s["name"] in on_path
        failed = s.get("status") == "failed"
        canceled = s.get("status") == "canceled"
        colour = (_C_FAIL if failed else _C_CANCEL if canceled else _C_CRIT if crit
                  else _C_CACHED if s.get("cached") else _C_BAR)
        weight = ' font-weight="bold"' if crit else ""
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f8f9fa"/>')
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="{_C_TEXT}"{weight}>{escape(s["name"])}</text>')
        x0, x1 = x(s["start"]), x(s["end"])
        tip = f'{s["name"]}: {s["start"]:.1f}–{s["end"]:.1f} s ({s["seconds"]:.1f} s)' + (", cache hit" if s.get("cached") else "")
        # the stage's span as a thin line, the time its steps actually ran as bars
        parts = [(st["start"], st["end"]) for st in s.get("steps") or [] if st["end"] > st["start"]]
        if x1 - x0 >= 1 and parts:
            out.append(f'<line x1="{x0:.1f}" y1="{y + row_h / 2:.1f}" x2="{x1:.1f}" y2="{y + row_h / 2:.1f}" '
                       f'stroke="{colour}" stroke-width="2"/>')
        for a, b in parts or [(s["start"], s["end"])]:
            w = max(x(b) - x(a), 2.0)
            outline = (' stroke="#7a2e00" stroke-width="1.5"' if crit and not canceled else
                       f' stroke="{_C_TEXT}" stroke-width="1" stroke-dasharray="3 2" fill-opacity="0.35"' if canceled else "")
            out.append(f'<rect x="{x(a):.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}"'
                       + outline + f"><title>{escape(tip)}</title></rect>")
        note = (f'{s["seconds"]:.1f} s' + (" cached" if s.get("cached") else "") + (" FAILED" if failed else "")
                + (" cancelled" if canceled else ""))
        if tests and s["name"].partition("@")[0] == "test":
            note += f" · {tests}"
        out.append(f'<text x="{max(x1, x0 + 2) + 4:.1f}" y="{y + 15}" fill="{_C_TEXT}">{escape(note)}</text>')
    ly = axis_y + 36
    legend = [(_C_CRIT, "critical path"), (_C_BAR, "ran"), (_C_CACHED, "cache hit"), (_C_FAIL, "failed"),
              (_C_CANCEL, "cancelled (stopped by the failure)")]
    lx = 10
    for colour, text in legend:
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="10" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly}" fill="{_C_TEXT}">{text}</text>')
        lx += 30 + 7 * len(text)
    out.append(f'<text x="10" y="{ly + 20}" fill="#495057">Seconds from the start of the build. Bars: steps '
               f'running; thin line: the stage waiting for another; overlapping bars ran in parallel.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_report_files(report: Mapping, out_dir: Path) -> dict[str, Path]:
    """Write build-report.json, build-report.md and build-timeline.svg into ``out_dir`` (strings redacted)."""
    from pipeline.core.validate import redact_deep

    report = redact_deep(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / name for k, name in FILES.items()}
    paths["json"].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    paths["markdown"].write_text(render_markdown(report, FILES["svg"]))
    paths["svg"].write_text(render_svg(report))
    return paths


def original_comparison(report: Mapping) -> list[tuple[str, float, float | None, str]]:
    """(part, original seconds, our seconds on the critical path or stage wall, our stages) for docs."""
    by_name = {}
    for s in report.get("stages", []):
        by_name.setdefault(s["name"].partition("@")[0], s)
    rows = []
    for part, orig, names in ORIGINAL_BREAKDOWN:
        got = [by_name[n]["seconds"] for n in names if n in by_name]
        rows.append((part, orig, round(sum(got), 1) if got else None, ", ".join(names)))
    return rows
