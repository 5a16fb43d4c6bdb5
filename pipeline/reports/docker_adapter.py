"""The Docker lane's build-report.json: BuildKit's plain progress of each `docker build`.

Per-step durations and cache hits as BuildKit printed them (pipeline.docker_lane.buildkit_log),
start times reconstructed from durations + completion order + stage dependencies (the
earliest consistent schedule: a lower bound, see pipeline.docker_lane.buildkit_log.timeline),
image sizes and the engine version from the Docker CLI.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.core import spec
from pipeline.docker_lane import buildkit_log
from pipeline.reports.facts import (
    TIER_OF, envelope, configured_tool_versions, go_env_from_output, modules_fetched, tool_versions_from_output,
)


DOCKER_PARENTS: dict[str, str | None] = {s.name: s.parent for s in spec.STAGES} | {n: None for n in spec.EXPORTS}

DOCKER_ACCURACY = (
    "Per-step durations and cache hits are BuildKit's own (DONE is rounded to 0.1 s). Docker 20.10's "
    "plain progress has no absolute times, so starts are reconstructed: each step starts when the steps "
    "it depends on have ended and ends no earlier than the step printed as finished before it (plain "
    "output lists completed steps in completion order). That is the earliest schedule consistent with the "
    "log, so starts and ends are lower bounds; time no constraint explains (waiting outside any step, "
    "client start-up) is not placed and shows as the difference between wall and timeline seconds."
)


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
    go_env, go_env_target = None, None
    fetched_by_stage: dict[str, int] = {}  # each fetch step's count once, though several targets' logs show it
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
            if go_env is None and v.stage == "go-mod" and go_env_from_output(lines) is not None:
                go_env, go_env_target = go_env_from_output(lines), item.target
            if v.stage and v.stage not in fetched_by_stage and (n := modules_fetched(lines)) is not None:
                fetched_by_stage[v.stage] = n
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
    report = envelope("docker", settings_view, stamp, go_version)
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
            "module_zips_fetched": sum(fetched_by_stage.values()) if fetched_by_stage else None,
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
