"""The fixture's Go tests see root vs non-root as Flamenco's do.

Flamenco's internal/manager/api_impl TestCheckSharedStoragePath fails (not skips)
under root; the fixture's internal/sharedstorage test of the same name mirrors it,
so a lane that runs `go test` as root goes red on the fixture as on Flamenco.
The real test binary (`go test -c`), run as root and as an unprivileged user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import FIXTURE, require_go

MESSAGE = "this test requires running as normal user, not root (0)"
RUN = ["-test.short", "-test.v", "-test.run", "TestCheckSharedStoragePath"]


@pytest.fixture(scope="module")
def test_binary(tmp_path_factory):
    """internal/sharedstorage's test binary, in a directory any user can read."""
    go = require_go()
    src = tmp_path_factory.mktemp("src") / "flamenco-mini"
    shutil.copytree(FIXTURE, src)
    shared = Path(tempfile.mkdtemp(prefix="fixture-sharedstorage-"))
    os.chmod(shared, 0o755)
    binary = shared / "sharedstorage.test"
    subprocess.run([go, "test", "-c", "-o", str(binary), "./internal/sharedstorage"], cwd=src, check=True,
                   capture_output=True, timeout=600, env={**os.environ, "CGO_ENABLED": "0"})
    os.chmod(binary, 0o755)
    yield binary
    shutil.rmtree(shared)


def test_as_root_it_fails_with_flamencos_message(test_binary):
    if os.geteuid() != 0:
        pytest.skip("needs root to show the refusal")
    proc = subprocess.run([str(test_binary), *RUN], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert MESSAGE in proc.stdout and "--- FAIL: TestCheckSharedStoragePath" in proc.stdout


def test_as_a_normal_user_it_passes(test_binary):
    cmd = [str(test_binary), *RUN]
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("no runuser to drop root")
        cmd = ["runuser", "-u", "nobody", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=test_binary.parent,
                          env={"PATH": os.environ["PATH"], "TMPDIR": "/tmp"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--- PASS: TestCheckSharedStoragePath" in proc.stdout
