"""No image carries an empty org.opencontainers.image.version (or .revision) label.

The Docker lane's guard runs for real in tests/container_lane/test_docker_lane.py
(test_runtime_image_refuses_an_empty_label_value); here: where the render puts it,
and the Dagger lane's labels() refusing blanks.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from pipeline.docker_lane import dockerfile as render_dockerfile
from pipeline.core import spec


def _stage_lines(name: str) -> list[str]:
    text = render_dockerfile.render()
    block = text.split(f"AS {name}\n", 1)[1].split("\n# ---- ", 1)[0]
    return block.splitlines()


@pytest.mark.parametrize("name", spec.RUNTIME_STAGES)
def test_guard_runs_after_the_stages_own_steps_and_before_it_waits_for_the_app(name):
    lines = _stage_lines(name)
    argv = json.dumps(['sh', '-c', spec.step_script(spec.LABEL_GUARD)])
    guard = next(i for i, line in enumerate(lines) if line.startswith("RUN ") and line.endswith(argv))
    copy_app = next(i for i, line in enumerate(lines) if line.startswith("COPY --from="))
    last_own_run = max(i for i, line in enumerate(lines[:guard]) if line.startswith("RUN "))
    label = next(i for i, line in enumerate(lines) if line.startswith("LABEL "))
    assert last_own_run < guard < copy_app < label
    assert all(f"ARG {p}" in "\n".join(lines[:guard]) for p in ("FLAMENCO_VERSION", "FLAMENCO_GIT_HASH"))


@pytest.mark.parametrize("env,message", [
    ({"FLAMENCO_VERSION": "", "FLAMENCO_GIT_HASH": "abc1234"}, "FLAMENCO_VERSION is empty"),
    ({"FLAMENCO_VERSION": "3.9", "FLAMENCO_GIT_HASH": ""}, "FLAMENCO_GIT_HASH is empty"),
])
def test_guard_script_is_one_line_exit_2(env, message):
    proc = subprocess.run(["sh", "-c", spec.LABEL_GUARD.script], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert "$(" in proc.stderr  # the fix is printed as a command, not run


def test_guard_script_passes_with_both_values():
    ok = subprocess.run(["sh", "-c", spec.LABEL_GUARD.script], env={"FLAMENCO_VERSION": "3.9", "FLAMENCO_GIT_HASH": "a"})
    assert ok.returncode == 0


@pytest.mark.parametrize("version,revision", [("", "abc1234"), ("3.9", " ")])
def test_labels_refuse_blank_values(version, revision):
    with pytest.raises(ValueError, match="empty org.opencontainers.image"):
        spec.labels(version, revision, "https://example.invalid/flamenco", "flamenco-manager")
