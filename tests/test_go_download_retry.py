"""The two module fetches, executed for real with `sh` against a stand-in `go`.

The stand-in plays the network's part only: an attempt that hangs (a stalled HTTPS
fetch, seen on real Flamenco here), one that fails, one that succeeds. The scripts are
spec.GO_DOWNLOAD (go-deps: every module) and spec.GO_FETCH_FOR_BINARIES (go-build: the
binaries' modules), exactly as both lanes run them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.core import spec

FAKE_GO = """#!/bin/sh
n=$(cat "$STATE" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE"
echo "$GOMAXPROCS" >> "$STATE.gomaxprocs"
case "$(echo "$PLAN" | cut -d, -f$n)" in
  hang) exec sleep 30 ;;
  fail) echo "go: example.com/x@v1.0.0: reading example.com/x: 404 Not Found" >&2; exit 1 ;;
  ok) echo "# get https://proxy.example/x/@v/v1.0.0.zip" >&2; echo "# get https://proxy.example/x/@v/v1.0.0.zip: 200 OK (0.1s)" >&2; exit 0 ;;
esac
"""


FETCHES = {  # label in the messages -> (script, the log file it keeps)
    "go mod download": (spec.GO_DOWNLOAD, "/tmp/go-mod-download.log"),
    "go list -deps of the binaries": (spec.GO_FETCH_FOR_BINARIES, "/tmp/go-list-deps.log"),
}


@pytest.fixture(params=sorted(FETCHES))
def fetch(request) -> str:
    return request.param


def run(tmp_path: Path, plan: str, fetch: str = "go mod download") -> tuple[subprocess.CompletedProcess, int]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").write_text(FAKE_GO)
    (bin_dir / "go").chmod(0o755)
    state = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PLAN": plan, "STATE": str(state),
           "GO_DOWNLOAD_ATTEMPT_SECONDS": "1", "TMPDIR": str(tmp_path)}
    script, log = FETCHES[fetch]
    script = re.sub(rf"{spec.OUT}(?=[/\s])", f"{tmp_path}/out", script.replace(log, str(tmp_path / "download.log")))
    proc = subprocess.run(["sh", "-c", "set -e\n" + script], env=env, capture_output=True, text=True, timeout=60)
    return proc, int(state.read_text())


def test_a_stalled_attempt_is_retried_and_the_step_succeeds(tmp_path, fetch):
    proc, calls = run(tmp_path, "hang,ok", fetch)
    assert proc.returncode == 0, proc.stderr
    assert calls == 2
    assert f"fetching Go modules ({fetch}): attempt 1 stopped after 1s (a stalled fetch?); retrying" in proc.stderr
    assert f"flamenco-pipeline: module zips fetched: 1 ({fetch})" in proc.stdout


def test_go_deps_marks_every_module_fetched_only_on_success(tmp_path):
    """test and check wait for this file (spec.AFTER_GO_DEPS)."""
    marker = tmp_path / "out" / Path(spec.GO_MODULES_DOWNLOADED).name
    proc, _ = run(tmp_path, "fail")
    assert proc.returncode == 1 and not marker.exists()
    (tmp_path / "calls").unlink()
    (tmp_path / "bin").rename(tmp_path / "bin-1")
    proc, _ = run(tmp_path, "ok")
    assert proc.returncode == 0 and marker.is_file(), proc.stderr


def test_downloads_run_at_least_eight_at_a_time(tmp_path, fetch):
    """The go command fetches GOMAXPROCS modules at once: never fewer than 8, nor fewer than the CPUs."""
    proc, _ = run(tmp_path, "ok", fetch)
    assert proc.returncode == 0, proc.stderr
    seen = (tmp_path / "calls.gomaxprocs").read_text().split()
    assert seen == [str(max(len(os.sched_getaffinity(0)), 8))]  # what nproc counts


def test_a_real_error_fails_at_once_without_a_retry(tmp_path, fetch):
    proc, calls = run(tmp_path, "fail,ok", fetch)
    assert proc.returncode == 1 and calls == 1
    assert "404 Not Found" in proc.stderr and f"fetching Go modules ({fetch}) failed (see above)" in proc.stderr


@pytest.mark.timeout(30)
def test_three_stalled_attempts_fail_with_one_line_naming_goproxy(tmp_path, fetch):
    proc, calls = run(tmp_path, "hang,hang,hang,ok", fetch)
    assert proc.returncode == 1 and calls == 3
    assert proc.stderr.strip().splitlines()[-1] == (
        f"flamenco-pipeline: fetching Go modules ({fetch}) made no progress in 3 attempts of 1s (last fetch above); "
        "check GOPROXY and the network")
