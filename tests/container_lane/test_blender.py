"""The Blender worker variant: a `simple-blender-render` job renders one 64x64 frame into shared storage.

Not in the default run (it installs Debian's Blender, hundreds of packages): run it with

    ./scripts/test -m blender tests/container_lane/test_blender.py -s

It builds `worker-blender` (Dockerfile.dev, from pipeline/core/spec.py) from the fixture, starts
the compose farm with it (WORKER_IMAGE), makes a tiny .blend with Blender itself
(`--background --python-expr`: Cycles, 1 sample, 64x64, frame 1) in the shared storage,
submits a `simple-blender-render` job the way Flamenco's job type expects it, and waits for
the frame file to appear in the shared storage.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import time

import pytest

from pipeline.container_scripts import integration
from pipeline.core import spec

from .conftest import _CHECKOUT
from .engine import lane_log, run_docker, timed
from .test_integration import up
from .test_compose import Farm

pytestmark = pytest.mark.blender

BLEND = f"{spec.SHARED_STORAGE}/tiny.blend"
OUTPUT_DIR = f"{spec.SHARED_STORAGE}/render/tiny"
MAKE_BLEND = "; ".join((
    "import bpy",
    "s = bpy.context.scene",
    "s.render.engine = 'CYCLES'",
    "s.cycles.samples = 1",
    "s.cycles.use_denoising = False",  # Debian's Blender is built without OpenImageDenoise
    "s.cycles.device = 'CPU'",
    "s.render.resolution_x = 64",
    "s.render.resolution_y = 64",
    "s.render.resolution_percentage = 100",
    "s.frame_start = 1",
    "s.frame_end = 1",
    "s.render.image_settings.file_format = 'PNG'",
    f"bpy.ops.wm.save_as_mainfile(filepath={BLEND!r})",
))
JOB = {  # the settings simple_blender_render.js requires; no fps, so no preview-video task
    "name": "tiny render", "type": "simple-blender-render", "priority": 50, "submitter_platform": "manager",
    "settings": {"frames": "1", "chunk_size": 1, "blendfile": BLEND, "format": "PNG", "image_file_extension": ".png",
                 "render_output_root": f"{spec.SHARED_STORAGE}/render", "add_path_components": 0,
                 "render_output_path": f"{OUTPUT_DIR}/######", "scene": "Scene"},
}


@pytest.fixture(scope="module")
def blender_worker(lane, default_build):
    tag = f"flamenco-worker-blender:lane-test-{_CHECKOUT}"
    with timed("worker-blender image"):
        result = lane.build("worker-blender", default_build.context, tag=tag, label="worker-blender", timeout=1800)
    result.check()
    lane_log(f"worker-blender image: built in {result.seconds:.1f}s")
    yield tag


@pytest.mark.timeout(2400)
def test_simple_blender_render_writes_a_frame_to_shared_storage(default_build, blender_worker):
    farm = Farm(dataclasses.replace(default_build, worker=blender_worker), 1)
    try:
        up(farm, 1)
        deadline = time.monotonic() + 60  # `up -d` waits for the manager only: the worker may still be starting
        while True:
            probe = farm.compose("exec", "-T", "worker", "blender", "--version", check=False)
            if probe.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        version = probe.stdout.splitlines()[0]
        made = farm.compose("exec", "-T", "worker", "blender", "--background", "--factory-startup",
                            "--python-expr", MAKE_BLEND, check=False, timeout=300)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
        base = f"http://127.0.0.1:{farm.port}/"
        t0 = time.monotonic()
        status, raw = integration.http_post_json(base, "/api/v3/jobs", JOB)
        assert status == 200, raw
        job_id = json.loads(raw)["id"]
        deadline = t0 + 600
        while time.monotonic() < deadline:
            job = integration.get_json(base, f"/api/v3/jobs/{job_id}")
            if job["status"] in ("completed", "failed", "canceled"):
                break
            time.sleep(1)
        seconds = time.monotonic() - t0
        tasks = integration.get_json(base, f"/api/v3/jobs/{job_id}/tasks")["tasks"]
        assert job["status"] == "completed", (job, tasks, farm.compose("logs", "--no-color", "worker").stdout[-3000:])
        cid = farm.compose("ps", "-q", "manager").stdout.strip()
        listing = run_docker(["exec", cid, "ls", OUTPUT_DIR]).stdout.split()
        assert listing == ["000001.png"], listing
        png = run_docker(["exec", cid, "head", "-c", "24", f"{OUTPUT_DIR}/000001.png"], text=False).stdout
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24]) == (64, 64), "the frame is 64x64"
        lane_log(f"blender render ({version}): job {[t['name'] for t in tasks]} completed in {seconds:.1f}s, "
                 f"{OUTPUT_DIR}/000001.png is a 64x64 PNG (seen from the manager's side of the shared storage)")
    finally:
        farm.compose("down", "-v", "--remove-orphans", check=False)
