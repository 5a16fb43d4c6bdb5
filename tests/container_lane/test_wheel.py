"""An installed wheel is self-sufficient: `render --check` and a real `docker build` from a fresh venv.

The README installs with `pip install -c constraints/engine.txt .` (not editable): the
package then lives in site-packages, with no Dockerfile.dev and no repository next to it.
The wheel is built from this checkout and installed into a new venv (uv, with the same
constraints); the commands run from a directory that is not this repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CA_BUNDLE, STAMP

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the wheel (./scripts/test installs it)"
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(work / "wheel"), str(ROOT)], check=True, timeout=300)
    (whl,) = (work / "wheel").glob("flamenco_pipeline-*.whl")
    venv = work / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-sources",
                    "-c", str(ROOT / "constraints/engine.txt"), str(whl)], check=True, timeout=600)
    return venv


def _run(venv: Path, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAMENCO_PIPELINE_", "GO", "PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(venv / "bin/flamenco-pipeline"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_installed_package_is_not_the_checkout(wheel_venv, tmp_path):
    code = "import pipeline.docker_lane.build as d, pipeline; print(d.REPO_ROOT); print(pipeline.__file__)"
    out = subprocess.run([str(wheel_venv / "bin/python"), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "None" and "site-packages" in out[1] and not out[1].startswith(str(ROOT))


def test_render_from_the_wheel_writes_and_checks_the_current_directory(wheel_venv, tmp_path):
    r = _run(wheel_venv, tmp_path, "render", "dockerfile", "--check")
    assert r.returncode == 1 and "differ from the spec" in r.stderr  # nothing here yet: said, not hidden
    r = _run(wheel_venv, tmp_path, "render", "dockerfile")
    assert r.returncode == 0 and str(tmp_path / "Dockerfile.dev") in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "Dockerfile.dev").read_text() == (ROOT / "Dockerfile.dev").read_text()
    assert _run(wheel_venv, tmp_path, "render", "dockerfile", "--check").returncode == 0
    assert _run(wheel_venv, ROOT, "render", "dockerfile", "--check").returncode == 0  # from the checkout, as the README


@pytest.mark.timeout(900)
def test_docker_build_from_the_wheel(wheel_venv, lane, fixture_copy, default_build, tmp_path):
    s = lane.standins
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run(wheel_venv, elsewhere, "docker", "build", "--source", str(default_build.context), "--export",
             str(tmp_path / "dist"), "--target", "binaries", "--git-hash", STAMP.git_hash, "--go-image", s["go"],
             "--node-image", s["node"], "--python-image", s["python"], "--runtime-image", s["runtime"],
             "--ca-cert", str(CA_BUNDLE), "--progress", "plain", timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert (tmp_path / "dist/binaries/flamenco-manager").is_file()
    report = json.loads((tmp_path / "dist/build-report.json").read_text())
    assert report["lane"] == "docker" and report["critical_path"]["stages"]
    assert not list(elsewhere.iterdir())  # nothing written where it was run from
