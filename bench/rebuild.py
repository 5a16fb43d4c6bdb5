"""Rebuild benchmark: Dockerfile.dev against a naive single-stage baseline, same run, same engine.

    .venv/bin/python bench/rebuild.py            # ~15 min on 2 cores; writes bench/results/latest.json

Both builds take a copy of the test fixture (tests/fixtures/flamenco-mini) and
produce the same thing: an image with both binaries in /out/bin, the web app
embedded in the manager, plus mage, gotestsum and staticcheck. Ours is
``Dockerfile.dev --target app`` exactly as ``flamenco-pipeline docker build``
runs it (pipeline.docker_lane); the baseline is ``bench/Dockerfile.baseline``
(whole source first, no cache mounts) on a toolbox image that the bench
assembles from the container lane's stand-in base images. Each time is the wall
clock of one ``docker build`` (Debian's Docker 20.10, BuildKit), image export
included.

Scenarios, in this order on the same context directory:
  cold      ``docker builder prune -af`` first (this empties the engine's WHOLE
            build cache, other people's included), then ours, then the baseline
  no-op     nothing changed
  source    one .go file changed (a unique comment, so every repetition is new)
  web       one web app source file changed
  dep       one more module required in go.mod (+ its go.sum lines): a different
            module each repetition, so each adds exactly one download

Repetitions: ``--reps`` (default 3) for ours; the baseline re-runs everything
below its COPY for any change, so it gets ``--baseline-reps`` (default 3) for
no-op and source and one run each for web and dep (same work as source).
Cold runs once (``--cold-reps`` to repeat; each repetition prunes again).
Medians are reported, with every run in the JSON. The last line printed is a
one-line summary.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import spec  # noqa: E402
from pipeline.build_report import TargetLog, docker_lane_report, render_svg  # noqa: E402
from pipeline.docker_lane import DockerBuild, build_args, docker_binary, docker_env  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402
from pipeline.source_facts import BuildStamp  # noqa: E402

BENCH = ROOT / "bench"
FIXTURE = ROOT / "tests" / "fixtures" / "flamenco-mini"
RESULTS = BENCH / "results"
GO_VERSION = "1.26.2"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STAMP = BuildStamp(version="3.9-bench", git_hash="0123abcde", release_cycle="beta")
OURS_TAG = "flamenco-pipeline-bench/ours:latest"
BASELINE_TAG = "flamenco-pipeline-bench/baseline:latest"
TOOLBOX_REPO = "flamenco-pipeline-bench/toolbox"
BUILD_TIMEOUT = 1500

# Modules without dependencies of their own, none of which the fixture or its tools use.
# (path, version, h1 of the zip, h1 of go.mod): what `go mod download -json` reports.
EXTRA_MODULES = (
    ("github.com/pmezard/go-difflib", "v1.0.0",
     "h1:4DBwDE0NGyQoBHbLQYPwSUPoCMWR5BEzIk/f1lZbAQM=", "h1:iKH77koFhYxTK1pcRnkKkqfTogsbg7gZNVY4sRDYZ/4="),
    ("github.com/davecgh/go-spew", "v1.1.1",
     "h1:vj9j/u1bqnvCEfJOwUhtlOARqs3+rkHYY13jYWTU97c=", "h1:J7Y8YcW2NihsgmVo/mv3lAwl/skON4iLHjSsI+c5H38="),
    ("github.com/kballard/go-shellquote", "v0.0.0-20180428030007-95032a82bc51",
     "h1:Z9n2FFNUXsshfwJMBgNA0RU6/i7WVaAegv3PtuIHPMs=", "h1:CzGEWj7cYgsdH8dAjBGEr58BoE7ScuLd+fwFZ44+/x8="),
)

# Stages that a dependency change must leave cached (everything before go-deps or beside it).
MUST_STAY_CACHED = ("go-base", "node-base", "python-base", "web-deps", "webapp", "addon")
MAY_RERUN = ("go-deps", "build-tools", "go-source", "app")


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def other_docker_builds() -> int:
    """`docker build` processes on this machine that are not ours (concurrent load)."""
    n = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(cmd) > 1 and cmd[0].endswith(b"docker") and cmd[1] == b"build" and b"flamenco-pipeline-bench" not in b" ".join(cmd):
            n += 1
    return n


def docker(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([docker_binary(), *args], env=docker_env(), text=True, capture_output=True, **kw)
    if check and proc.returncode:
        raise SystemExit(f"bench: docker {' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


# --------------------------------------------------------------------------- #
# setup


def standin_images() -> dict[str, str]:
    from tests.container_lane.standins import ensure_standins

    return ensure_standins(GO_VERSION, log=lambda m: say(m))


def toolbox_image(tags: dict[str, str]) -> str:
    """Go + Node/yarn + Python, from the stand-ins; rebuilt only when its recipe changes."""
    dockerfile = (BENCH / "Dockerfile.toolbox").read_text()
    ids = {k: docker("image", "inspect", "--format", "{{.Id}}", tags[k]).stdout.strip() for k in ("go", "node")}
    ca = CA_BUNDLE.read_bytes() if CA_BUNDLE.is_file() else b""
    recipe = hashlib.sha256(json.dumps([dockerfile, ids]).encode() + ca).hexdigest()[:16]
    tag = f"{TOOLBOX_REPO}:{recipe}"
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    say(f"building the baseline's toolbox image {tag} (not timed)")
    with tempfile.TemporaryDirectory(prefix="bench-toolbox-") as tmp:
        (Path(tmp) / "ca-certificates.crt").write_bytes(ca)
        docker("build", "-f", str(BENCH / "Dockerfile.toolbox"), "--build-arg", f"GO_IMAGE={tags['go']}",
               "--build-arg", f"NODE_IMAGE={tags['node']}", "-t", tag, tmp, timeout=1200)
    return tag


def settings_for(tags: dict[str, str]):
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith("FLAMENCO_PIPELINE_") or k in spec.GO_MODULE_VARS}
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as empty:  # no .env from wherever we were started
            os.chdir(empty)
            return load_settings(go_image=tags["go"], node_image=tags["node"], python_image=tags["python"],
                                 runtime_image=tags["runtime"], ca_cert=CA_BUNDLE if CA_BUNDLE.is_file() else None)
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


# --------------------------------------------------------------------------- #
# the two builds


class Bench:
    def __init__(self, ctx: Path, tags: dict[str, str], toolbox: str, log_dir: Path):
        self.ctx, self.toolbox, self.log_dir = ctx, toolbox, log_dir
        self.settings = settings_for(tags)
        self.args = build_args(self.settings, STAMP, GO_VERSION)
        self.n = 0

    def ours(self, label: str) -> dict:
        build = DockerBuild(context=self.ctx, target="app", args=self.args, tag=OURS_TAG,
                            ca_cert=self.settings.ca_cert)
        return self._run("ours", label, build.command())

    def baseline(self, label: str) -> dict:
        cmd = [docker_binary(), "build", "-f", str(BENCH / "Dockerfile.baseline"), "--progress=plain",
               "--build-arg", f"TOOLBOX_IMAGE={self.toolbox}"]
        for k in ("FLAMENCO_VERSION", "FLAMENCO_GIT_HASH", "FLAMENCO_RELEASE_CYCLE", "GOTESTSUM_VERSION",
                  "STATICCHECK_VERSION"):
            cmd += ["--build-arg", f"{k}={self.args[k]}"]
        return self._run("baseline", label, cmd + ["-t", BASELINE_TAG, str(self.ctx)])

    def _run(self, who: str, label: str, cmd: list[str]) -> dict:
        self.n += 1
        others = other_docker_builds()
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=docker_env(), text=True, capture_output=True, timeout=BUILD_TIMEOUT)
        dt = time.monotonic() - t0
        text = proc.stdout + proc.stderr
        log = self.log_dir / f"{self.n:02d}-{who}-{label}.log"
        log.write_text(text)
        if proc.returncode:
            raise SystemExit(f"bench: {who} {label} failed (exit {proc.returncode}), log {log}:\n{text[-3000:]}")
        others = max(others, other_docker_builds())
        say(f"{who:8} {label:14} {dt:7.1f}s" + (f"  ({others} other docker build(s) running)" if others else ""))
        return {"seconds": round(dt, 2), "log": str(log), "text": text, "others": others}


def stage_facts(run: dict) -> dict:
    """Which stages re-ran, which were cache hits, and the go-deps fetch count (ours only)."""
    report = docker_lane_report([TargetLog("app", run["text"], seconds=run["seconds"])], inspect=False)
    stages = [s for s in report["stages"] if s["kind"] == "stage"]
    return {
        "reran": [s["name"] for s in stages if s["cached"] is False],
        "cached": [s["name"] for s in stages if s["cached"]],
        "fetched": report["go_module_settings"]["module_zips_fetched"],
        "report": report,
    }


# --------------------------------------------------------------------------- #
# changes


def change_source(ctx: Path) -> None:
    p = ctx / "cmd" / "flamenco-manager" / "main.go"
    p.write_text(p.read_text() + f"\n// bench: source change {uuid.uuid4()}\n")


def change_web(ctx: Path) -> str:
    marker = f"bench-web-change-{uuid.uuid4()}"
    p = ctx / "web" / "app" / "src" / "app.js"
    p.write_text(p.read_text() + f'\nconsole.debug("{marker}");\n')
    return marker


def change_dep(ctx: Path, i: int) -> str:
    path, version, zip_sum, mod_sum = EXTRA_MODULES[i % len(EXTRA_MODULES)]
    with open(ctx / "go.mod", "a") as fh:
        fh.write(f"\nrequire {path} {version}\n")
    with open(ctx / "go.sum", "a") as fh:
        fh.write(f"{path} {version} {zip_sum}\n{path} {version}/go.mod {mod_sum}\n")
    return f"{path}@{version}"


def binaries_carry(tag: str, marker: str) -> bool:
    """Both binaries exist and the manager embeds the web app build that has `marker`."""
    script = f"test -x /out/bin/flamenco-manager && test -x /out/bin/flamenco-worker && grep -q -a '{marker}' /out/bin/flamenco-manager"
    return docker("run", "--rm", "--entrypoint", "sh", tag, "-c", script, check=False).returncode == 0


# --------------------------------------------------------------------------- #
# --help


def help_timing(n: int = 10) -> dict:
    exe = Path(sys.executable).parent / "flamenco-pipeline"
    cmd = [str(exe)] if exe.exists() else [shutil.which("flamenco-pipeline") or "flamenco-pipeline"]
    runs, floor = [], []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run(cmd + ["--help"], capture_output=True, check=True)
        runs.append(time.monotonic() - t0)
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        floor.append(time.monotonic() - t0)
    return {"median": round(statistics.median(runs), 3), "runs": [round(r, 3) for r in runs],
            "python_startup_median": round(statistics.median(floor), 3)}


# --------------------------------------------------------------------------- #


def median(runs: list[dict]) -> float | None:
    return round(statistics.median(r["seconds"] for r in runs), 2) if runs else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each scenario for ours (default 3)")
    ap.add_argument("--baseline-reps", type=int, default=3, help="baseline repetitions of no-op and source (default 3)")
    ap.add_argument("--cold-reps", type=int, default=1, help="cold repetitions (each prunes the build cache)")
    ap.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = ap.parse_args(argv)

    t_start = time.monotonic()
    if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode:
        raise SystemExit("bench: no Docker engine answers (/usr/bin/docker info); start one first")
    say("WARNING: the cold scenario runs `docker builder prune -af`: it empties this engine's whole build "
        "cache, including other people's; their next builds will be cold and concurrent builds may fail.")
    tags = standin_images()
    toolbox = toolbox_image(tags)
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()

    with tempfile.TemporaryDirectory(prefix="bench-ctx-") as tmp:
        ctx = Path(tmp) / "flamenco-mini"
        shutil.copytree(FIXTURE, ctx, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
        for p in (ctx / "web" / "static").iterdir():
            if p.name != "emptyfile":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        b = Bench(ctx, tags, toolbox, log_dir)
        runs: dict[str, dict[str, list[dict]]] = {s: {"ours": [], "baseline": []}
                                                   for s in ("cold", "no-op", "source", "web", "dep")}

        for i in range(args.cold_reps):
            say("docker builder prune -af")
            docker("builder", "prune", "-af", timeout=600)
            runs["cold"]["ours"].append(b.ours(f"cold-{i + 1}"))
            runs["cold"]["baseline"].append(b.baseline(f"cold-{i + 1}"))
        for i in range(args.reps):
            runs["no-op"]["ours"].append(b.ours(f"noop-{i + 1}"))
            if i < args.baseline_reps:
                runs["no-op"]["baseline"].append(b.baseline(f"noop-{i + 1}"))
        for i in range(args.reps):
            change_source(ctx)
            runs["source"]["ours"].append(b.ours(f"source-{i + 1}"))
            if i < args.baseline_reps:
                runs["source"]["baseline"].append(b.baseline(f"source-{i + 1}"))
        markers = []
        for i in range(args.reps):
            markers.append(change_web(ctx))  # appended: the file keeps every earlier marker
            runs["web"]["ours"].append(b.ours(f"web-{i + 1}"))
            if i == 0:
                runs["web"]["baseline"].append(b.baseline(f"web-{i + 1}"))
        same_output = None
        if markers:  # both images: two binaries, the manager embeds the web build with the first change
            same_output = binaries_carry(OURS_TAG, markers[0]) and binaries_carry(BASELINE_TAG, markers[0])
        added = []
        for i in range(args.reps):
            added.append(change_dep(ctx, i))
            runs["dep"]["ours"].append(b.ours(f"dep-{i + 1}"))
            if i == 0:
                runs["dep"]["baseline"].append(b.baseline(f"dep-{i + 1}"))

    load_after = loadavg()
    help_t = help_timing()

    # --- evaluate --------------------------------------------------------------------
    facts = {s: [stage_facts(r) for r in rs["ours"]] for s, rs in runs.items()}
    cold = median(runs["cold"]["ours"])
    table = {}
    for s, rs in runs.items():
        ours, base = median(rs["ours"]), median(rs["baseline"])
        table[s] = {
            "ours": {"median": ours, "runs": [r["seconds"] for r in rs["ours"]]},
            "baseline": {"median": base, "runs": [r["seconds"] for r in rs["baseline"]]},
            "ours_over_cold": round(ours / cold, 4) if ours is not None and cold else None,
            "ours_over_baseline": round(ours / base, 4) if ours is not None and base else None,
            "reran_stages": facts[s][-1]["reran"] if facts[s] else None,
        }
    dep_facts = facts["dep"]
    dep_reran = sorted({st for f in dep_facts for st in f["reran"]})
    dep_cached_ok = all(all(st in f["cached"] for st in MUST_STAY_CACHED) for f in dep_facts)
    dep_only_later = all(set(f["reran"]) <= set(MAY_RERUN) for f in dep_facts)
    fetched = [f["fetched"] for f in dep_facts]
    targets = [
        {"target": "no-op rebuild <= 5% of cold", "measured": table["no-op"]["ours_over_cold"],
         "met": (table["no-op"]["ours_over_cold"] or 1) <= 0.05},
        {"target": "source-only change <= 20% of cold", "measured": table["source"]["ours_over_cold"],
         "met": (table["source"]["ours_over_cold"] or 1) <= 0.20},
        {"target": "source-only change >= 5x faster than the baseline's",
         "measured": round(1 / table["source"]["ours_over_baseline"], 2) if table["source"]["ours_over_baseline"] else None,
         "met": (table["source"]["ours_over_baseline"] or 1) <= 0.2},
        {"target": "dependency change re-runs only go-deps and later; modules in the cache volume not fetched again",
         "measured": {"reran": dep_reran, "module_zips_fetched": fetched, "modules_added": added},
         "met": dep_cached_ok and dep_only_later and all(n == 1 for n in fetched)},
        {"target": "flamenco-pipeline --help < 0.5 s (median of 10)", "measured": help_t["median"],
         "met": help_t["median"] < 0.5},
    ]
    cold_report = facts["cold"][0]["report"] if facts["cold"] else None
    if cold_report:
        (RESULTS / "cold-build-timeline.svg").write_text(render_svg(cold_report))
    others = max((r["others"] for rs in runs.values() for side in rs.values() for r in side), default=0)
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "docker_engine": docker("version", "--format", "{{.Server.Version}}").stdout.strip()},
        "load": {"loadavg_before": load_before, "loadavg_after": load_after,
                 "max_other_docker_builds_seen": others},
        "repetitions": {"ours": args.reps, "baseline_noop_source": args.baseline_reps, "cold": args.cold_reps},
        "scenarios": table,
        "dep_change": {"modules_added": added, "module_zips_fetched": fetched, "reran": dep_reran,
                       "stayed_cached": list(MUST_STAY_CACHED) if dep_cached_ok else None},
        "same_output": same_output,
        "help": help_t,
        "cold_stages": [{k: s[k] for k in ("name", "start", "end", "seconds", "busy_seconds", "cached")}
                        for s in (cold_report or {}).get("stages", [])],
        "cold_critical_path": (cold_report or {}).get("critical_path"),
        "targets": targets,
        "bench_seconds": round(time.monotonic() - t_start, 1),
    }

    # --- print ---------------------------------------------------------------------------
    print()
    print(f"{'scenario':10} {'ours (s)':>9} {'baseline (s)':>13} {'ours/cold':>10} {'ours/baseline':>14}  runs (ours | baseline)")
    for s, row in table.items():
        oc = row["ours_over_cold"]
        ob = row["ours_over_baseline"]
        print(f"{s:10} {row['ours']['median'] or 0:9.1f} {row['baseline']['median'] or 0:13.1f} "
              f"{(f'{oc:.1%}' if oc is not None else '-'):>10} {(f'{ob:.2f}' if ob is not None else '-'):>14}  "
              f"{row['ours']['runs']} | {row['baseline']['runs']}")
    print(f"dep change: modules added {added}; module zips fetched per run {fetched}; re-ran {dep_reran}")
    print(f"--help: median {help_t['median']:.3f}s (python alone {help_t['python_startup_median']:.3f}s)")
    print(f"same output (both images: two binaries, the manager embeds the changed web app): {same_output}")
    if others:
        print(f"NOTE: up to {others} other docker build(s) ran on this engine during the bench; timings are noisy.")
    print(f"load average before {load_before}, after {load_after}")
    for t in targets:
        print(f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['measured']}")
    met = sum(t["met"] for t in targets)
    src_speedup = targets[2]["measured"]
    summary = (f"bench: cold {cold:.1f}s | no-op {table['no-op']['ours']['median']:.1f}s "
               f"({table['no-op']['ours_over_cold']:.1%} of cold) | source {table['source']['ours']['median']:.1f}s "
               f"({table['source']['ours_over_cold']:.1%} of cold, {src_speedup}x faster than baseline "
               f"{table['source']['baseline']['median']:.1f}s) | web {table['web']['ours']['median']:.1f}s | "
               f"dep {table['dep']['ours']['median']:.1f}s (fetched {fetched}) | --help {help_t['median']:.2f}s | "
               f"targets {met}/{len(targets)} met")
    result["summary"] = summary
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}; logs: {log_dir}")
    print(summary)
    return 0 if met == len(targets) else 1


if __name__ == "__main__":
    sys.exit(main())
