"""The Dagger lane's build-report.json: wall clock around each stage's sync() from the call's start.

A stage's start is taken as the latest end of the stages it depends on (the engine cannot
start it earlier). Cache hits are not visible there.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.core import spec
from pipeline.reports.facts import (
    TIER_OF, envelope, configured_tool_versions, go_env_from_output, modules_fetched, tool_versions_from_output,
)


DAGGER_ACCURACY = (
    "Wall clock in the Dagger module from the start of the evaluation to each stage's sync() returning; "
    "a stage's start is the latest end of the stages it depends on. Stages share work (a stage's sync "
    "also waits for its ancestors), so 'end' is exact to the event loop and 'start' is derived. Cache "
    "hits are not visible through the SDK (cached = null)."
)


def dagger_lane_report(
    timings: Mapping[str, dict],
    *,
    settings_view: Mapping | None = None,
    stamp=None,
    go_version: str | None = None,
    images: Mapping[str, dict] | None = None,
    go_module_output: str | None = None,
    base_outputs: Mapping[str, str] | None = None,
    wall_seconds: float | None = None,
    extra: Mapping | None = None,
    tests: Mapping | None = None,
) -> dict:
    """build-report.json from ``FlamencoPipeline._evaluate`` timings.

    ``timings``: ``{"go-deps": {"started", "finished", "ok", "error"?}, "app@linux/amd64": ...}``.
    ``go_module_output``: stdout of the Go module steps: go-mod's ``go env -json``, the
    fetch counts go-build and go-deps print;
    ``base_outputs``: ``{"go-base": stdout, "node-base": stdout}`` for tool versions.
    """
    ends = {name: float(t["finished"]) for name, t in timings.items()}

    def deps_of(name: str) -> list[str]:
        stage_name, _, platform = name.partition("@")
        out = []
        for d in spec.dependencies(stage_name):
            # a build-platform stage copying from a target stage reads the first platform's
            # (StageGraph.first_target; timings list the platforms in --platforms order)
            cand = [f"{d}@{platform}", d] if platform else [d, *(n for n in ends if n.startswith(f"{d}@"))]
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
    go_lines = (go_module_output or "").splitlines()
    go_env = go_env_from_output(go_lines)
    tools = configured_tool_versions(settings_view)
    tools |= tool_versions_from_output({k: v.splitlines() for k, v in (base_outputs or {}).items()},
                                       "stage stdout (inside the build)")
    if go_env and "go" not in tools and go_env.get("GOVERSION"):
        tools["go"] = {"version": go_env["GOVERSION"], "source": "go env -json (inside the build)"}
    timeline_end = max(ends.values(), default=0.0)
    report = envelope("dagger", dict(settings_view) if settings_view else None, stamp, go_version)
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
