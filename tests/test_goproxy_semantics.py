"""Go's GOPROXY list semantics, which docs/security.md relies on, checked with the real go command."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_go


@pytest.fixture(autouse=True)
def _needs_go():
    """The real go command (and its module proxy) is the thing under test: CI fails without it."""
    require_go()


def _go(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["go", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)
def test_dead_first_proxy_falls_through_only_with_a_pipe(tmp_path):
    """Go's GOPROXY semantics, checked with the real go command and a local dead endpoint.

    ',' falls through to the next entry only on 404/410; '|' on any error,
    including a refused connection. The second entry is a file:// proxy made
    from a module cache, so nothing leaves this machine.
    """
    fixture = Path(__file__).resolve().parent / "fixtures" / "flamenco-mini"
    base = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    # GOSUMDB=off only here: the local file:// proxy serves zips the seed step already verified.
    base |= {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOSUMDB": "off", "HOME": str(tmp_path)}
    # 1. a populated module cache to serve from (through the default proxy)
    seed = tmp_path / "seed"
    r = _go(["mod", "download", "github.com/google/uuid@v1.6.0"],
            {**{k: v for k, v in os.environ.items() if k not in ("GOFLAGS",)}, "GOMODCACHE": str(seed), "GOFLAGS": "-mod=mod"},
            fixture)
    assert r.returncode == 0, r.stderr
    local_proxy = f"file://{seed}/cache/download"
    with socket.socket() as s:  # a port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    work = tmp_path / "work"
    work.mkdir()
    (work / "go.mod").write_text("module example.com/probe\n\ngo 1.22\n")
    for sep, should_pass in ((",", False), ("|", True)):
        env = base | {"GOMODCACHE": str(tmp_path / f"cache{ord(sep)}"), "GOPROXY": f"{dead}{sep}{local_proxy}"}
        r = _go(["mod", "download", "-json", "github.com/google/uuid@v1.6.0"], env, work)
        assert (r.returncode == 0) == should_pass, (sep, r.stdout[-500:], r.stderr[-500:])
        if not should_pass:
            assert "connection refused" in (r.stdout + r.stderr)
