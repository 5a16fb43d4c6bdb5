"""The plain-Docker lane: `Dockerfile.dev` built by BuildKit with the same settings.

Build args come from the same Settings and source facts as the Dagger lane, so
both lanes get the same images, module settings and stamps. The Debian client
(`/usr/bin/docker`, Docker 20.10) is used with DOCKER_BUILDKIT=1: it needs no
buildx plugin, and no `# syntax=` line (which would pull a frontend image).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import spec
from pipeline.plan import images
from pipeline.settings import Settings
from pipeline.spec import node_major
from pipeline.source_facts import BuildStamp

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "Dockerfile.dev"


def docker_binary() -> str:
    """The BuildKit-capable client: Debian's /usr/bin/docker if present, else PATH."""
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


def docker_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def build_args(settings: Settings, stamp: BuildStamp, go_version: str) -> dict[str, str]:
    imgs = images(settings, go_version)
    args = {spec.IMAGE_PARAMS[k]: v for k, v in imgs.items()}
    args |= settings.go_module_env()
    if settings.npm_registry:
        args["NPM_REGISTRY"] = settings.npm_registry
    args |= {
        "GO_VERSION": go_version,
        "NODE_MAJOR": node_major(settings.node_image),
        "GOFLAGS": settings.goflags,
        "ALLOW_UNSAFE_GO_MODULES": "1" if settings.allow_unsafe_go_modules else "0",
        "STEP_TIMEOUT": str(settings.step_timeout),
        "GOTESTSUM_VERSION": settings.gotestsum_version,
        "STATICCHECK_VERSION": settings.staticcheck_version,
        "FLAMENCO_VERSION": stamp.version,
        "FLAMENCO_GIT_HASH": stamp.git_hash,
        "FLAMENCO_RELEASE_CYCLE": stamp.release_cycle,
    }
    return args


@dataclass
class DockerBuild:
    """One `docker build` invocation of Dockerfile.dev."""

    context: Path
    target: str
    args: dict[str, str]
    tag: str | None = None
    output: Path | None = None  # for export stages: --output type=local,dest=...
    ca_cert: Path | None = None
    go_netrc: Path | None = None
    progress: str = "plain"
    extra: list[str] = field(default_factory=list)
    dockerfile: Path = DOCKERFILE

    def command(self) -> list[str]:
        cmd = [docker_binary(), "build", "-f", str(self.dockerfile), "--target", self.target, f"--progress={self.progress}"]
        for k, v in sorted(self.args.items()):
            cmd += ["--build-arg", f"{k}={v}"]
        if self.tag:
            cmd += ["-t", self.tag]
        if self.output:
            cmd += ["--output", f"type=local,dest={self.output}"]
        if self.ca_cert:
            cmd += ["--secret", f"id=extra_ca,src={self.ca_cert}"]
        if self.go_netrc:
            cmd += ["--secret", f"id=go_netrc,src={self.go_netrc}"]
        return cmd + self.extra + [str(self.context)]

    def run(self, *, log_path: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run it; BuildKit's progress log (stderr) goes to log_path and the result."""
        proc = subprocess.run(
            self.command(), env=docker_env(), text=True, capture_output=True, timeout=timeout
        )
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(proc.stdout + proc.stderr)
        return proc
