"""pipeline/core/farm_config.py: the farm's flamenco-manager.yaml and flamenco-worker.yaml.

The key names and the first-run rule are Flamenco 3.9's (internal/manager/config/,
internal/worker/config.go); these tests check what we generate and that the
start command really writes it, with a real shell.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.core import farm_config, spec


def test_manager_config_is_not_a_first_run_and_parses_as_yaml():
    doc = yaml.safe_load(farm_config.manager_yaml())
    assert doc == farm_config.manager_config()
    assert doc["_meta"] == {"version": 3}, "Flamenco refuses any other config version"
    # Flamenco: a missing file or an empty shared_storage_path is the first run (setup assistant, browser, no Shaman)
    assert doc["shared_storage_path"] == spec.SHARED_STORAGE != ""
    assert doc["listen"] == f":{spec.MANAGER_PORT}"
    assert doc["database"] == spec.MANAGER_DB
    assert doc["shaman"] == {"enabled": True}
    assert doc["autodiscoverable"] is False
    assert farm_config.job_storage(doc) == f"{spec.SHARED_STORAGE}/jobs"


def test_worker_config_points_at_the_manager():
    doc = yaml.safe_load(farm_config.worker_yaml())
    assert doc == {"manager_url": spec.MANAGER_URL, "task_types": ["blender", "ffmpeg", "file-management", "misc"]}


def test_relative_shared_storage_is_refused():
    with pytest.raises(ValueError, match="must be an absolute path"):
        farm_config.manager_config(shared_storage="shared")


def test_strings_are_quoted_so_yaml_reads_them_back_unchanged():
    tricky = {"a": "yes", "b": ":8080", "c": 'say "hi" \\ #no-comment', "d": ["on", "1"], "e": {"f": False, "g": 3}}
    assert yaml.safe_load(farm_config.to_yaml(tricky)) == tricky


@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_start_command_writes_the_config_into_the_cwd_then_execs(kind, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    fake = app / f"flamenco-{kind}"
    fake.write_text("#!/bin/sh\necho started \"$(pwd)\"\n")
    fake.chmod(0o755)
    script = farm_config.start_script(kind).replace(spec.APP_DIR, str(app))
    env = {"PATH": os.environ["PATH"], **farm_config.environment(kind)}
    out = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"started {tmp_path}"
    written = (tmp_path / farm_config.CONFIG_FILE[kind]).read_text()
    assert yaml.safe_load(written) == yaml.safe_load(farm_config.config_text(kind))
    assert "$" not in script, "compose would interpolate a $ in compose.dev.yml"


def test_start_command_without_its_variable_stops_with_one_line(tmp_path):
    out = subprocess.run(["sh", "-c", farm_config.start_script("manager")], cwd=tmp_path,
                         env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "flamenco-pipeline: FLAMENCO_MANAGER_YAML is not set"


def test_module_prints_a_config(tmp_path):
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "pipeline.core.farm_config", "worker"], cwd=root,
                         capture_output=True, text=True, check=True)
    assert out.stdout == farm_config.worker_yaml()
