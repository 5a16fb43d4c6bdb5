"""Rebuild benchmark: today's stage graph, the previous one and a naive baseline, same run, same engine.

    .venv/bin/python bench/rebuild.py                          # the fixture; writes bench/results/latest.json
    .venv/bin/python bench/rebuild.py --source ~/flamenco      # any Flamenco checkout (it is copied first)

Three builds of a copy of the source, one after the other:

  ours      ``Dockerfile.dev`` as ``flamenco-pipeline docker build`` runs it (pipeline.docker_lane.build)
  before    ``bench/Dockerfile.before``: Dockerfile.dev as it was before issue 11 (git main,
            5d1c0aa): tools (mage too) on the images' path, the whole tree copied into go-source
  baseline  ``bench/Dockerfile.baseline``: one stage, whole source first, no cache mounts,
            on a toolbox image assembled from the container lane's stand-ins (not timed)

For ours and before, *images* means ``--target manager`` and ``--target worker`` built
concurrently (as the Docker lane does) and *everything* adds ``reports`` and ``check``
(4 concurrent builds, the Docker lane's default plus check); images-ready is when the
last image build of the set finished. The baseline has one target (both binaries,
web app embedded, add-on, tools): its images-ready; it runs no tests.

Scenarios, in this order, per build, on that build's own copy of the source:
  cold-images  (ours only) images from nothing
  cold-ordered (ours only) everything from nothing, ordered: the images first, then reports and
               check (another schedule of the same graph: does go test competing with go build
               on 2 cores delay the images, and what does waiting cost the whole run?)
  cold         everything from nothing (for the baseline: its one build)
  no-op        nothing changed
  source       one .go file changed (a unique comment)
  web          one web app source file changed
  docs         one documentation file changed (CHANGELOG.md, else README.md)
  dep          one more module required in go.mod (+ its go.sum lines), one Flamenco lacks

*From nothing* without emptying anyone's build cache: each cold run gets its own copy of
the Dockerfile in which every cache-mount id carries a fresh run id and every FROM of a
base image is followed by ``ENV FLAMENCO_BENCH_RUN=<id>``, so no layer and no cache volume
of any earlier build can match (the base images themselves stay: they play pulled
images). The warm scenarios after it use the same copy. The volumes stay in the engine's
build cache until its garbage collection takes them.

Per scenario: the wall clock of each ``docker build``, images-ready, and which steps
re-ran (read from BuildKit's plain progress, one row per named step). Reps: one each
(``--reps N`` repeats the warm scenarios; a row is then its median run, `runs` lists all). ``--skip`` drops builds or scenarios
(``--skip baseline:web`` or ``--skip before``); the baseline's web/docs/dep are skipped by
default on request with ``--baseline-scenarios``: for any change it re-runs everything
below its ``COPY . .``, the same work as its source scenario.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.docker_lane import buildkit_log  # noqa: E402
from pipeline.core import spec
from pipeline.reports.docker_adapter import TargetLog, docker_lane_report, step_name  # noqa: E402
from pipeline.reports.svg import render_svg
from pipeline.docker_lane.build import build_args, docker_binary, docker_env  # noqa: E402
from pipeline.core.settings import load_settings  # noqa: E402
from pipeline.core.source_facts import BuildStamp, parse_go_mod  # noqa: E402

BENCH = ROOT / "bench"
FIXTURE = ROOT / "tests" / "fixtures" / "flamenco-mini"
RESULTS = BENCH / "results"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STAMP = BuildStamp(version="3.9-bench", git_hash="0123abcde", release_cycle="beta")
TAG = "flamenco-pipeline-bench/{who}-{target}:latest"
TOOLBOX_REPO = "flamenco-pipeline-bench/toolbox"
BUILD_TIMEOUT = 3600

GRAPHS = {"ours": ROOT / "Dockerfile.dev", "before": BENCH / "Dockerfile.before", "baseline": BENCH / "Dockerfile.baseline"}
IMAGES = ("manager", "worker")
EVERYTHING = ("manager", "worker", "reports", "check")
SCENARIOS = ("cold-images", "cold-ordered", "cold", "no-op", "source", "web", "docs", "dep")
WARM = SCENARIOS[3:]
ORDERED = (IMAGES, ("reports", "check"))  # cold-ordered: the images first, then tests and checks

# Modules without dependencies of their own: (path, version, h1 of the zip, h1 of go.mod), as
# `go mod download -json` reports them. The first one the source's go.sum lacks is added.
EXTRA_MODULES = (
    ("github.com/kballard/go-shellquote", "v0.0.0-20180428030007-95032a82bc51",
     "h1:Z9n2FFNUXsshfwJMBgNA0RU6/i7WVaAegv3PtuIHPMs=", "h1:CzGEWj7cYgsdH8dAjBGEr58BoE7ScuLd+fwFZ44+/x8="),
    ("github.com/pmezard/go-difflib", "v1.0.0",
     "h1:4DBwDE0NGyQoBHbLQYPwSUPoCMWR5BEzIk/f1lZbAQM=", "h1:iKH77koFhYxTK1pcRnkKkqfTogsbg7gZNVY4sRDYZ/4="),
    ("github.com/davecgh/go-spew", "v1.1.1",
     "h1:vj9j/u1bqnvCEfJOwUhtlOARqs3+rkHYY13jYWTU97c=", "h1:J7Y8YcW2NihsgmVo/mv3lAwl/skON4iLHjSsI+c5H38="),
)
WEB_FILES = ("web/app/src/main.js", "web/app/src/app.js")
DOCS_FILES = ("CHANGELOG.md", "README.md")
GO_FILE = "cmd/flamenco-manager/main.go"


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def other_docker_builds() -> int:
    """`docker build` processes on this machine that are not ours (concurrent load)."""
    n = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
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


def standin_images(go_version: str) -> dict[str, str]:
    from tests.container_lane.standins import ensure_standins

    return ensure_standins(go_version, log=lambda m: say(m))


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


def settings_for(tags: dict[str, str], npm_registry: str | None = None):
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith("FLAMENCO_PIPELINE_") or k in spec.GO_MODULE_VARS}
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as empty:  # no .env from wherever we were started
            os.chdir(empty)
            return load_settings(go_image=tags["go"], node_image=tags["node"], python_image=tags["python"],
                                 runtime_image=tags["runtime"], ca_cert=CA_BUNDLE if CA_BUNDLE.is_file() else None,
                                 **({"npm_registry": npm_registry} if npm_registry else {}))
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


_FROM_IMAGE = re.compile(r"^FROM (?:--platform=\S+ )?\$\{[A-Z_]+\}(?: AS \S+)?$")


def cold_dockerfile(src: Path, dest: Path, run_id: str, env: dict[str, str] | None = None) -> Path:
    """A copy of `src` that no earlier build can match: fresh cache-mount ids, a fresh ENV on every base.

    `env`: more ENV lines after every base FROM (before/baseline: YARN_REGISTRY, see --npm-registry)."""
    out = []
    for line in src.read_text().splitlines():
        line = line.replace("--mount=type=cache,id=", f"--mount=type=cache,id=bench-{run_id}-")
        out.append(line)
        if _FROM_IMAGE.match(line):
            out.append(f"ENV FLAMENCO_BENCH_RUN={run_id}")
            out += [f"ENV {k}={json.dumps(v)}" for k, v in (env or {}).items()]
    dest.write_text("\n".join(out) + "\n")
    ignore = Path(str(src) + ".dockerignore")
    if ignore.exists():
        shutil.copy(ignore, Path(str(dest) + ".dockerignore"))
    return dest


# --------------------------------------------------------------------------- #
# the builds


class Graph:
    """One of ours / before / baseline, on its own copy of the source."""

    def __init__(self, who: str, ctx: Path, work: Path, settings, args: dict[str, str], toolbox: str, log_dir: Path):
        self.who, self.ctx, self.work, self.settings, self.args = who, ctx, work, settings, args
        self.toolbox, self.log_dir = toolbox, log_dir
        self.dockerfile: Path | None = None
        self.n = 0

    def go_cold(self) -> None:
        run_id = uuid.uuid4().hex[:10]
        # ours reads the mirror from its settings (NPM_REGISTRY, as users pass it); the other two
        # graphs have no such setting, so yarn gets it from its own environment variable
        env = {"YARN_REGISTRY": self.settings.npm_registry} if self.settings.npm_registry and self.who != "ours" else {}
        self.dockerfile = cold_dockerfile(GRAPHS[self.who], self.work / f"Dockerfile.{self.who}.{run_id}", run_id, env)

    def command(self, target: str) -> list[str]:
        cmd = [docker_binary(), "build", "-f", str(self.dockerfile), "--progress=plain"]
        if self.who == "baseline":
            cmd += ["--build-arg", f"TOOLBOX_IMAGE={self.toolbox}"]
            for k in ("FLAMENCO_VERSION", "FLAMENCO_GIT_HASH", "FLAMENCO_RELEASE_CYCLE", "GOTESTSUM_VERSION",
                      "STATICCHECK_VERSION"):
                cmd += ["--build-arg", f"{k}={self.args[k]}"]
            return cmd + ["-t", TAG.format(who=self.who, target="app"), str(self.ctx)]
        cmd += ["--target", target]
        for k, v in sorted(self.args.items()):
            cmd += ["--build-arg", f"{k}={v}"]
        if self.settings.ca_cert:
            cmd += ["--secret", f"id=extra_ca,src={self.settings.ca_cert}"]
        if target in spec.EXPORTS:  # as the Docker lane exports them
            cmd += ["--output", f"type=local,dest={self.work / ('out-' + target)}"]
        elif target in IMAGES:
            cmd += ["-t", TAG.format(who=self.who, target=target)]
        return cmd + [str(self.ctx)]

    def run(self, scenario: str, targets: tuple[str, ...]) -> dict:
        """The targets as concurrent `docker build`s; wall clock of each and of the set."""
        if self.who == "baseline":
            targets = ("app",)
        others = other_docker_builds()
        t0 = time.monotonic()

        def one(target: str):
            proc = subprocess.run(self.command(target), env=docker_env(), text=True, capture_output=True,
                                  timeout=BUILD_TIMEOUT)
            return target, proc, time.monotonic() - t0

        with ThreadPoolExecutor(len(targets)) as pool:
            results = list(pool.map(one, targets))
        builds = {}
        for target, proc, end in results:
            self.n += 1
            text = proc.stdout + proc.stderr
            log = self.log_dir / f"{self.who}-{self.n:02d}-{scenario}-{target}.log"
            log.write_text(text)
            if proc.returncode:
                raise SystemExit(f"bench: {self.who} {scenario} {target} failed (exit {proc.returncode}), log {log}:\n"
                                 f"{text[-3000:]}")
            builds[target] = {"seconds": round(end, 2), "log": str(log), "text": text}
        others = max(others, other_docker_builds())
        images = [builds[t]["seconds"] for t in builds if t in IMAGES or t == "app"]
        row = {
            "targets": list(targets),
            "seconds": round(max(b["seconds"] for b in builds.values()), 2),
            "images_ready": round(max(images), 2) if images else None,
            "per_target": {t: b["seconds"] for t, b in builds.items()},
            "reran": reran_steps([b["text"] for b in builds.values()]),
            "others": others,
            "_logs": [TargetLog(t, b["text"], started=0.0, seconds=b["seconds"]) for t, b in builds.items()],
        }
        say(f"{self.who:8} {scenario:12} images ready {row['images_ready'] or 0:7.1f}s  all {row['seconds']:7.1f}s  "
            f"re-ran {len(row['reran'])} step(s)" + (f"  ({others} other docker build(s))" if others else ""))
        return row


def median_run(reps: list[dict]) -> dict:
    """With --reps N: the run whose images-ready is the median (the lower middle for even N),
    so every number of the row comes from one real run; `runs` lists them all."""
    ordered = sorted(reps, key=lambda r: r["images_ready"] if r["images_ready"] is not None else r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def reran_steps(texts: list[str]) -> list[str]:
    """Dockerfile steps that ran (not cache hits) in any of the logs, one per (stage, step), named."""
    seen: dict[tuple, str] = {}
    for text in texts:
        for v in buildkit_log.parse(text).steps:
            if v.cached or v.instruction == "FROM" or (v.status == "done" and v.seconds is None and not v.output):
                continue
            key = (v.stage, v.index)
            seen.setdefault(key, f"{v.stage}: {step_name(v)} ({v.duration:.1f}s)")
    return [seen[k] for k in sorted(seen, key=lambda k: (k[0] or "", k[1] or 0))]


# --------------------------------------------------------------------------- #
# changes


def first_existing(ctx: Path, names: tuple[str, ...]) -> Path:
    for n in names:
        if (ctx / n).is_file():
            return ctx / n
    raise SystemExit(f"bench: the source has none of {', '.join(names)}")


def change_source(ctx: Path) -> str:
    p = ctx / GO_FILE
    p.write_text(p.read_text() + f"\n// bench: source change {uuid.uuid4()}\n")
    return GO_FILE


def change_web(ctx: Path) -> str:
    p = first_existing(ctx, WEB_FILES)
    p.write_text(p.read_text() + f'\nconsole.debug("bench-web-change-{uuid.uuid4()}");\n')
    return p.relative_to(ctx).as_posix()


def change_docs(ctx: Path) -> str:
    p = first_existing(ctx, DOCS_FILES)
    p.write_text(p.read_text() + f"\n<!-- bench: docs change {uuid.uuid4()} -->\n")
    return p.relative_to(ctx).as_posix()


def change_dep(ctx: Path) -> str:
    have = (ctx / "go.sum").read_text()
    for path, version, zip_sum, mod_sum in EXTRA_MODULES:
        if f"{path} " not in have:
            with open(ctx / "go.mod", "a") as fh:
                fh.write(f"\nrequire {path} {version}\n")
            with open(ctx / "go.sum", "a") as fh:
                fh.write(f"{path} {version} {zip_sum}\n{path} {version}/go.mod {mod_sum}\n")
            return f"{path}@{version}"
    raise SystemExit("bench: every extra module is already in go.sum; add one to EXTRA_MODULES")


CHANGES = {"source": change_source, "web": change_web, "docs": change_docs, "dep": change_dep}


def copy_source(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("node_modules", "__pycache__", ".git"))
    static = dest / "web" / "static"
    if static.is_dir():
        for p in static.iterdir():
            if p.name != "emptyfile":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    return dest


# --------------------------------------------------------------------------- #


def help_timing(n: int = 10) -> dict:
    exe = Path(sys.executable).parent / "flamenco-pipeline"
    cmd = [str(exe)] if exe.exists() else [shutil.which("flamenco-pipeline") or "flamenco-pipeline"]
    runs = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run(cmd + ["--help"], capture_output=True, check=True)
        runs.append(time.monotonic() - t0)
    return {"median": round(statistics.median(runs), 3)}


def plan(args) -> list[tuple[str, str]]:
    """(build, scenario) pairs to run, in order."""
    skip = set(args.skip or ())
    out = []
    for who in ("ours", "before", "baseline"):
        if who in skip:
            continue
        for sc in SCENARIOS:
            if f"{who}:{sc}" in skip or sc in skip:
                continue
            if sc in ("cold-images", "cold-ordered") and who != "ours":
                continue
            if who == "baseline" and sc in WARM and sc not in args.baseline_scenarios:
                continue
            out.append((who, sc))
    if args.by_build:  # each build's cold run, then its warm scenarios, one build after the other
        return out
    # every cold run first (the headline ratios), then the warm scenarios on each build's warm cache
    return sorted(out, key=lambda ws: not ws[1].startswith("cold"))


def local_name(title: str) -> str:
    """A step title without the registry BuildKit prefixes to local image names (`FROM <registry>/x`)."""
    return re.sub(r"^FROM [a-z0-9.-]+\.[a-z]+/", "FROM ", title)


def recorded_argv(argv: list[str]) -> list[str]:
    """The command line as results record it: a mirror's address is the machine's, not the result's."""
    out, hide = [], False
    for a in argv:
        if hide:
            out.append('"$(npm config get registry)"')
        elif a.startswith("--npm-registry="):
            a = '--npm-registry="$(npm config get registry)"'
        if not hide:
            out.append(a)
        hide = a == "--npm-registry"
    return out


def ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def evaluate(table: dict) -> list[dict]:
    """Issue 11's targets, from the rows measured in this run."""
    ours, before, base = table.get("ours", {}), table.get("before", {}), table.get("baseline", {})
    get = lambda t, sc, k="images_ready": (t.get(sc) or {}).get(k)  # noqa: E731
    cold_ours = get(ours, "cold")
    targets = []

    def add(name, measured, met):  # not measured in this run: met is None, not False
        targets.append({"target": name, "measured": measured, "met": None if measured is None else bool(met)})

    r = ratio(cold_ours, get(before, "cold"))
    add("cold images-ready <= 0.5x the previous graph (everything built, images ready)", r, r is not None and r <= 0.5)
    r = ratio(get(base, "cold"), cold_ours)
    add("cold images-ready >= 2x faster than the naive baseline", r, r is not None and r >= 2)
    docs = (ours.get("docs") or {}).get("reran")
    add("docs-only change: 0 build steps re-run", docs, docs is not None and not docs)
    web = (ours.get("web") or {}).get("reran")
    add("web-only change: test cached", [s for s in web or [] if s.startswith("test:")],
        web is not None and not any(s.startswith("test:") for s in web))
    r = ratio(get(ours, "source"), cold_ours)
    add("one .go change: images ready <= 0.1x cold", r, r is not None and r <= 0.1)
    return targets


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=FIXTURE, help="a Flamenco checkout (default: the test fixture)")
    ap.add_argument("--reps", type=int, default=1, help="repetitions of each warm scenario (default 1)")
    ap.add_argument("--skip", action="append", help="a build (before), a scenario (dep) or build:scenario")
    ap.add_argument("--baseline-scenarios", default="no-op,source,web,docs,dep",
                    help="warm scenarios the baseline runs (default all)")
    ap.add_argument("--by-build", action="store_true",
                    help="run ours (cold, then its warm scenarios), then before, then baseline (default: every cold first)")
    ap.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    ap.add_argument("--npm-registry", help="an npm registry mirror for yarn, in all three builds (real Flamenco's "
                    "yarn.lock pins yarn's default registry); e.g. \"$(npm config get registry)\"")
    args = ap.parse_args(argv)
    args.baseline_scenarios = set(filter(None, args.baseline_scenarios.split(",")))
    src = args.source.resolve()
    if not (src / "go.mod").is_file():
        raise SystemExit(f"bench: --source {src} has no go.mod; pass a Flamenco checkout")

    t_start = time.monotonic()
    if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode:
        raise SystemExit("bench: no Docker engine answers (docker info); start one first")
    go_version = parse_go_mod((src / "go.mod").read_text()).toolchain_version
    tags = standin_images(go_version)
    toolbox = toolbox_image(tags)
    settings = settings_for(tags, args.npm_registry)
    bargs = build_args(settings, STAMP, go_version)
    log_dir = args.output.parent / f"{args.output.stem}-logs"
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.mkdir(parents=True)
    todo = plan(args)
    say(f"source {src} (Go {go_version}); {len(todo)} scenario runs: {', '.join(f'{w}:{s}' for w, s in todo)}")
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "bench/rebuild.py " + " ".join(recorded_argv(argv if argv is not None else sys.argv[1:])),
        "source": str(args.source), "go_version": go_version,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "docker_engine": docker("version", "--format", "{{.Server.Version}}").stdout.strip()},
        "load": {"loadavg_before": loadavg()},
        "scenarios": {}, "changes": {},
    }
    table: dict[str, dict[str, dict]] = {}
    cold_reports = {}

    def save():
        result["scenarios"] = {w: {s: strip(r) for s, r in rows.items()} for w, rows in table.items()}
        result["targets"] = evaluate(table)
        result["bench_seconds"] = round(time.monotonic() - t_start, 1)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        graphs: dict[str, Graph] = {}
        for who, sc in todo:
            if who not in graphs:
                ctx = copy_source(src, Path(tmp) / who / "src")
                graphs[who] = Graph(who, ctx, Path(tmp) / who, settings, bargs, toolbox, log_dir)
            g = graphs[who]
            if sc.startswith("cold"):
                g.go_cold()
            elif sc in CHANGES:  # the same change in every build's copy
                result["changes"].setdefault(sc, CHANGES[sc](g.ctx))
            targets = IMAGES if sc == "cold-images" else EVERYTHING
            if sc == "cold-ordered":
                first, then = g.run(sc, ORDERED[0]), g.run(sc + "-2", ORDERED[1])
                row = first | {"seconds": round(first["seconds"] + then["seconds"], 2),
                               "per_target": first["per_target"] | {t: round(first["seconds"] + v, 2)
                                                                    for t, v in then["per_target"].items()},
                               "reran": sorted(set(first["reran"]) | set(then["reran"])), "targets": list(EVERYTHING),
                               "runs": [first["images_ready"]], "_logs": first["_logs"]}
                table.setdefault(who, {})[sc] = row
                save()
                continue
            reps = [g.run(sc, targets)]
            for _ in range(1, args.reps if sc in WARM and sc != "dep" else 1):  # dep: one module, once
                if sc in CHANGES:
                    CHANGES[sc](g.ctx)
                reps.append(g.run(sc, targets))
            row = median_run(reps) | {"runs": [r["images_ready"] for r in reps]}
            if sc == "cold" and who != "baseline":
                cold_reports[who] = docker_lane_report(row["_logs"], inspect=False)
            table.setdefault(who, {})[sc] = row
            save()

    result["load"]["loadavg_after"] = loadavg()
    result["load"]["max_other_docker_builds_seen"] = max(
        (r["others"] for rows in table.values() for r in rows.values()), default=0)
    result["help"] = help_timing()
    for who, rep in cold_reports.items():
        (args.output.parent / f"{args.output.stem}-cold-{who}-timeline.svg").write_text(render_svg(rep))
        result.setdefault("cold_critical_path", {})[who] = rep.get("critical_path")
        result.setdefault("cold_steps", {})[who] = [
            {"stage": s["name"], "step": local_name(st.get("name") or st["title"]), "seconds": st["seconds"],
             "start": st["start"], "end": st["end"], "cached": st["cached"]}
            for s in rep["stages"] if s["kind"] == "stage" for st in s.get("steps", []) if not st["cached"]]
    save()

    # --- print ---------------------------------------------------------------------------
    print()
    print(f"{'scenario':12} " + " ".join(f"{w + ' img':>13} {w + ' all':>13}" for w in table))
    for sc in SCENARIOS:
        cells = []
        for w in table:
            r = table[w].get(sc)
            cells.append(f"{(r or {}).get('images_ready') or 0:13.1f} {(r or {}).get('seconds') or 0:13.1f}"
                         if r else f"{'-':>13} {'-':>13}")
        print(f"{sc:12} " + " ".join(cells))
    for w in table:
        for sc, r in table[w].items():
            print(f"{w} {sc}: re-ran {r['reran'] or 'nothing'}")
    print(f"changes: {result['changes']}")
    print(f"load average before {result['load']['loadavg_before']}, after {result['load']['loadavg_after']}; "
          f"other docker builds seen: {result['load']['max_other_docker_builds_seen']}")
    for t in result["targets"]:
        print(f"{'MET ' if t['met'] else 'n/a ' if t['met'] is None else 'MISS'} {t['target']}: {t['measured']}")
    print(f"results: {args.output}; logs: {log_dir}")
    met = sum(bool(t["met"]) for t in result["targets"])
    print(f"bench: {met}/{len(result['targets'])} targets met in {result['bench_seconds']:.0f}s")
    return 0 if met == len(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
