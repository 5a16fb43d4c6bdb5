"""Changing --step-timeout re-runs nothing in the Docker lane, and the limit still applies (issue 13).

STEP_TIMEOUT goes to BuildKit as the `step_timeout` secret (pipeline.docker_lane.build
RUNTIME_ONLY_ARGS), which is in no cache key; as a build arg it invalidated every step.
"""

from __future__ import annotations

import json
import re

import pytest

from pipeline.core import spec
from pipeline.docker_lane.build import DockerBuild



@pytest.mark.timeout(600)
def test_a_new_step_timeout_is_a_cache_hit_and_still_reaches_the_step(lane, fixture_copy):
    src = fixture_copy("timeout-cache")
    first = lane.build("go-base", src, settings=lane.settings(step_timeout=900), label="go-base timeout 900")
    assert first.ok, first.tail()
    second = lane.build("go-base", src, settings=lane.settings(step_timeout=31), label="go-base timeout 31")
    assert second.ok, second.tail()
    cmd = DockerBuild(context=src, target="go-base", args=lane.args(lane.settings(step_timeout=31))).command()
    assert "STEP_TIMEOUT=31" not in " ".join(cmd) and "id=step_timeout,env=STEP_TIMEOUT" in cmd
    out = second.output
    runs = [s for s in spec.stage("go-base").steps if isinstance(s, spec.Run)]
    header = [ln for ln in out.splitlines() if re.match(r"#(\d+) \[go-base \d+/\d+\] RUN", ln)]
    assert len({h.split()[0] for h in header}) == len(runs), second.tail()
    for step_no in sorted({h.split()[0] for h in header}):  # every RUN step of the stage
        assert f"{step_no} CACHED" in out, f"a go-base step re-ran after only STEP_TIMEOUT changed:\n{second.tail()}"


@pytest.mark.timeout(300)
def test_the_secret_limit_stops_a_step(lane, tmp_path):
    """The exact prelude of every step, with the secret the lane passes: a 1 s limit stops `sleep 30`."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    script = spec.step_script(spec.Run("sleepy step", "sleep 30"))
    (ctx / "Dockerfile").write_text(
        f"FROM {lane.standins['runtime']} AS sleepy\n"
        f"RUN --mount=type=secret,id=step_timeout,target={spec.STEP_TIMEOUT_PATH} {json.dumps(['sh', '-c', script])}\n")
    b = DockerBuild(context=ctx, target="sleepy", args={"STEP_TIMEOUT": "1"}, dockerfile=ctx / "Dockerfile",
                    extra=["--no-cache"])
    proc = b.run(timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "flamenco-pipeline: step 'sleepy step' took longer than 1s and was stopped" in out, out[-2000:]


@pytest.mark.timeout(300)
def test_a_timed_out_go_test_still_exports_its_reports(lane, tmp_path):
    """The test stage's exact step, with a gotestsum that hangs: stopped at the limit, the step
    records exit code 124 and succeeds, so `--output` still brings /reports back."""
    (run,) = [s for s in spec.stage("test").steps if isinstance(s, spec.Run)]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "gotestsum").write_text("#!/bin/sh\necho '<testsuites/>' > /reports/junit.xml\nexec sleep 60\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {lane.standins['runtime']} AS hung\n"
        "COPY --chmod=0755 gotestsum /usr/local/bin/gotestsum\n"
        f"RUN --mount=type=secret,id=step_timeout,target={spec.STEP_TIMEOUT_PATH} "
        f"{json.dumps(['sh', '-c', spec.step_script(run)])}\n"
        f"FROM scratch AS reports\nCOPY --from=hung {spec.REPORTS}/ /\n")
    out_dir = tmp_path / "reports"
    b = DockerBuild(context=ctx, target="reports", args={"STEP_TIMEOUT": "3"}, dockerfile=ctx / "Dockerfile",
                    output=out_dir, extra=["--no-cache"])
    proc = b.run(timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "flamenco-pipeline: step 'go test' took longer than 3s and was stopped" in log
    assert (out_dir / "exit-code").read_text().strip() == "124"
    assert (out_dir / "junit.xml").read_text().strip() == "<testsuites/>", "what was written comes back"
