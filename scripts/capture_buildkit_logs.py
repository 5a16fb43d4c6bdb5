"""Capture the BuildKit plain-progress logs tests/data/ holds, on today's Dockerfile.dev.

    python scripts/capture_buildkit_logs.py app-cold      # --target app, alone
    python scripts/capture_buildkit_logs.py concurrent    # manager, worker, reports, binaries at once
    python scripts/capture_buildkit_logs.py go-mod-refused  # --target go-mod with GOPROXY=direct: refused

Each run is cold without touching anyone's build cache: `--no-cache`, and a copy of
Dockerfile.dev whose cache-mount ids carry a `cap-<run id>-` prefix (removed from the
logs afterwards; nothing else changes). go-mod-refused uses the cache (its earlier
stages are cache hits) and passes GOPROXY=direct as a bare build arg, as a by-hand
`docker build` would: the settings validation never sees it, the guard in go-mod does.
The source is tests/fixtures/flamenco-mini, the base images the stand-ins
(tests/container_lane/standins.py), the stamp the bench's.
The logs are redacted with scripts/redact_buildkit_log.py and written beside a .json
saying how they were made. Needs a running Docker engine; takes a few minutes.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rebuild import STAMP, copy_source, settings_for, standin_images  # noqa: E402
from redact_buildkit_log import redact  # noqa: E402

from pipeline.core import spec  # noqa: E402
from pipeline.docker_lane.build import DockerBuild, build_args, docker_binary  # noqa: E402
from pipeline.core.source_facts import parse_go_mod  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "flamenco-mini"
DATA = ROOT / "tests" / "data"
SETS = {"app-cold": ("app",), "concurrent": ("manager", "worker", "reports", "binaries"), "go-mod-refused": ("go-mod",)}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SETS:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    which = argv[0]
    go_version = parse_go_mod((FIXTURE / "go.mod").read_text()).toolchain_version
    settings = settings_for(standin_images(go_version))
    args = build_args(settings, STAMP, go_version)
    refused = which == "go-mod-refused"
    if refused:
        args = args | {"GOPROXY": "direct"}
    run_id = uuid.uuid4().hex[:8]
    prefix = f"cap-{run_id}-"
    with tempfile.TemporaryDirectory(prefix="capture-") as tmp:
        ctx = copy_source(FIXTURE, Path(tmp) / "src")
        dockerfile = Path(tmp) / "Dockerfile.dev"
        dockerfile.write_text((ROOT / "Dockerfile.dev").read_text().replace(
            "--mount=type=cache,id=", f"--mount=type=cache,id={prefix}"))
        shutil.copy(ROOT / "Dockerfile.dev.dockerignore", str(dockerfile) + ".dockerignore")
        t0 = time.monotonic()

        def one(target: str):
            b = DockerBuild(ctx, target, args, ca_cert=settings.ca_cert, dockerfile=dockerfile,
                            extra=[] if refused else ["--no-cache"],
                            tag=f"flamenco-pipeline-bench/cap-{target}:latest" if target not in spec.EXPORTS else None,
                            output=Path(tmp) / f"out-{target}" if target in spec.EXPORTS else None)
            proc = b.run()
            return target, proc, round(time.monotonic() - t0, 1)

        with ThreadPoolExecutor(len(SETS[which])) as pool:
            results = list(pool.map(one, SETS[which]))
    logs, walls = {}, {}
    for target, proc, wall in results:
        if bool(proc.returncode) != refused:
            sys.stderr.write(proc.stderr[-3000:])
            print(f"capture: {target} exited {proc.returncode}, expected {'a failure' if refused else 0}", file=sys.stderr)
            return 1
        name = f"buildkit-plain-{which}.log" if len(SETS[which]) == 1 else f"buildkit-plain-{which}-{target}.log"
        (DATA / name).write_text(redact(proc.stderr.replace(prefix, "")))
        logs[target], walls[target] = name, wall
    engine = subprocess.run([docker_binary(), "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, text=True).stdout.strip()
    meta = {
        "captured": f"{_dt.date.today().isoformat()}, scripts/capture_buildkit_logs.py {which}: Dockerfile.dev at "
                    f"{_git_head()} on tests/fixtures/flamenco-mini, " + (
                        "GOPROXY=direct as a build arg, earlier stages cached" if refused else
                        "cold (--no-cache, fresh cache-mount ids, no docker builder prune)"),
        "engine": f"Docker {engine}, built-in BuildKit, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f} at the end",
        "redacted_with": "scripts/redact_buildkit_log.py",
    }
    if len(SETS[which]) == 1:
        (target,) = SETS[which]
        meta = {"log": logs[target], **meta, "wall_seconds": walls[target]}
    else:
        meta = {"logs": logs, **meta, "wall_seconds": walls}
    json_name = f"buildkit-plain-{which}.json"
    (DATA / json_name).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"capture: wrote {', '.join(logs.values())} and {json_name} ({walls})")
    return 0


def _git_head() -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "Dockerfile.dev"]).returncode
    return proc.stdout.strip() + (" (uncommitted changes)" if dirty else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
