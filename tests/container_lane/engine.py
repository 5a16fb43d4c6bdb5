"""Small helpers around the Docker engine used by the container lane.

Always the Debian client ``/usr/bin/docker`` (20.10) with BuildKit switched on
through ``DOCKER_BUILDKIT=1``; a newer ``docker`` earlier on PATH may want
buildx, which this machine does not have.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Sequence

from pipeline.docker_lane.buildkit_log import parse_plain_progress, step_output  # noqa: F401 (re-exported)

DOCKER = "/usr/bin/docker"

#: How many lines of stderr a DockerError keeps.
STDERR_TAIL_LINES = 40


class DockerError(RuntimeError):
    """A docker command failed; the message carries the tail of its stderr."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str, stdout: str = ""):
        self.cmd = list(args)
        self.returncode = returncode
        self.stderr = stderr or ""
        self.stdout = stdout or ""
        tail = "\n".join(self.stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
        if not tail:
            tail = "\n".join(self.stdout.rstrip().splitlines()[-STDERR_TAIL_LINES:])
        super().__init__(
            f"`{shlex.join(self.cmd)}` failed with exit code {returncode}"
            + (f":\n{tail}" if tail else "")
        )


def docker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` plus ``DOCKER_BUILDKIT=1`` (plus ``extra``)."""
    env = dict(os.environ)
    env["DOCKER_BUILDKIT"] = "1"
    if extra:
        env.update(extra)
    return env


def run_docker(args: Sequence[str], **kw) -> subprocess.CompletedProcess:
    """Run ``/usr/bin/docker *args`` and return the CompletedProcess.

    Defaults: ``check=True``, ``text=True``, stdout and stderr captured and
    ``env=docker_env()``; any of these can be overridden through ``kw``
    (e.g. ``stdin=`` a file, ``input=``, ``cwd=``, ``timeout=``).  A non-zero
    exit raises :class:`DockerError` whose message ends with stderr's tail.
    """
    check = kw.pop("check", True)
    kw.setdefault("text", True)
    kw.setdefault("env", docker_env())
    if "stdout" not in kw and "stderr" not in kw and "capture_output" not in kw:
        kw["capture_output"] = True
    cmd = [DOCKER, *args]
    proc = subprocess.run(cmd, check=False, **kw)
    if check and proc.returncode != 0:
        raise DockerError(cmd, proc.returncode, _as_text(proc.stderr), _as_text(proc.stdout))
    return proc


def _as_text(data) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def engine_available(timeout: float = 15) -> bool:
    """True when ``/usr/bin/docker info`` answers."""
    try:
        proc = subprocess.run(
            [DOCKER, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            env=docker_env(),
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def image_exists(tag: str) -> bool:
    """True when the engine has an image called ``tag``."""
    proc = run_docker(["image", "inspect", "--format", "{{.Id}}", tag], check=False)
    return proc.returncode == 0


def image_label(tag: str, key: str) -> str | None:
    """The value of label ``key`` on image ``tag``; None if no image or no label."""
    proc = run_docker(["image", "inspect", "--format", "{{json .Config.Labels}}", tag], check=False)
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout.strip() or "null") or {}
    return labels.get(key)


# BuildKit ``--progress=plain`` is parsed by pipeline.docker_lane.buildkit_log (the one parser);
# these two names stay importable from here for the tests.


def stage_runs(steps: dict[str, dict], stage: str) -> dict[str, dict]:
    """The ``RUN`` steps of one stage from :func:`parse_plain_progress`."""
    pat = re.compile(rf"^\[{re.escape(stage)} \d+/\d+\] RUN ")
    return {title: info for title, info in steps.items() if pat.match(title)}


@contextlib.contextmanager
def timed(part: str, timings: dict[str, float] | None = None):
    """Print ``[lane] part: 1.2s`` (also on failure) and record it in ``timings``."""
    t0 = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        dt = time.monotonic() - t0
        if timings is not None:
            timings[part] = dt
        lane_log(f"{part}: {dt:.1f}s" + ("" if ok else " (failed)"))


#: Every timing/result line of the lane, printed again at the end of the run
#: (pytest captures test output; the summary makes the lane's times visible in CI).
LANE_LOG: list[str] = []


def lane_log(message: str) -> None:
    line = f"[lane] {message}"
    LANE_LOG.append(line)
    print(line, flush=True)
