"""A Docker engine the test suite starts for itself, for fault tests that stop or kill an engine.

Never the user's daemon: this dockerd has its own socket, pid file, data root and exec root
(and so its own supervised containerd) in a fresh temporary directory, and no iptables rules
(`--iptables=false`). Builds run with `--network host`.

Its bridge is its own too: an empty Linux bridge with a fresh name (`fpbr` + 8 hex digits),
created before the daemon starts and deleted after it stops. Not `--bridge=none`: Moby 20.10
then calls `removeDefaultBridgeInterface()`, which deletes the host's `docker0` whoever owns
it, and every build of the other daemon fails with "could not find bridge docker0" (seen
here twice). With `--bridge=<name>` the daemon only touches the interface it was given (it
may give it an address from a subnet no host route uses).

Everything waits on observed state (the API answering, the process gone), never on sleeps of
a guessed length, and :meth:`IsolatedDockerd.close` always stops it, deletes its bridge and
removes its directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from .engine import DOCKER

START_TIMEOUT = 90
STOP_TIMEOUT = 30


class EngineUnavailable(RuntimeError):
    """This machine cannot start a private dockerd (not root, no dockerd binary)."""


def dockerd_binary() -> str | None:
    return shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None)


class IsolatedDockerd:
    """`with IsolatedDockerd() as engine:` -- `engine.env` points a docker client at it."""

    def __init__(self):
        binary = dockerd_binary()
        if binary is None:
            raise EngineUnavailable("no dockerd binary (install docker.io)")
        if os.geteuid() != 0:
            raise EngineUnavailable("starting a private dockerd needs root")
        if shutil.which("ip") is None:
            raise EngineUnavailable("no `ip` command (install iproute2): the private dockerd needs its own bridge")
        self.binary = binary
        self.bridge = f"fpbr{uuid.uuid4().hex[:8]}"  # <= 15 characters, an interface name's limit
        # short: unix socket paths are limited to 108 bytes, containerd's lives under exec-root
        self.root = Path(tempfile.mkdtemp(prefix="fp-dockerd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.pidfile = self.root / "docker.pid"
        self.log = self.root / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # --- the client side -------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1"}

    def docker(self, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw)

    def answers(self) -> bool:
        try:
            return self.docker("info", "--format", "{{.ServerVersion}}", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # --- the daemon ---------------------------------------------------------------------
    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "exec").mkdir(exist_ok=True)
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True,
                           capture_output=True)
        self.starts += 1
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--host", self.host, "--pidfile", str(self.pidfile),
                 "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                 f"--bridge={self.bridge}", "--iptables=false", "--ip-masq=false", "--ip-forward=false"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: containerd goes with it on a KILL
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"private dockerd exited ({self.proc.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"private dockerd did not answer within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.2)
        assert int(self.pidfile.read_text()) == self.proc.pid  # this process, nobody else's

    def terminate(self) -> None:
        """SIGTERM exactly the process this object started; wait until it is gone (KILL its group late)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
        try:  # a supervised containerd left behind (it shares the group)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart(self) -> None:
        self.terminate()
        self.start()

    def close(self) -> None:
        try:
            self.terminate()
        finally:
            self._unmount_leftovers()
            shutil.rmtree(self.root, ignore_errors=True)
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)  # gone already: fine

    def _unmount_leftovers(self) -> None:
        try:
            mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()]
        except OSError:
            return
        for m in sorted((m for m in mounts if m.startswith(str(self.root))), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    def load_images(self, *tags: str) -> None:
        """Copy images from the suite's main engine (a client call, nothing is stopped there)."""
        for tag in tags:
            save = subprocess.Popen([DOCKER, "save", tag], stdout=subprocess.PIPE,
                                    env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
            load = subprocess.run([DOCKER, "load", "-q"], stdin=save.stdout, env=self.env,
                                  capture_output=True, text=True, timeout=600)
            save.stdout.close()
            if save.wait(timeout=600) or load.returncode:
                raise RuntimeError(f"could not copy {tag} into the private engine: {load.stderr[-1000:]}")

    def __enter__(self) -> IsolatedDockerd:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
