"""The plain-Docker lane: `Dockerfile.dev` built by BuildKit with the same settings.

Build args come from the same Settings and source facts as the Dagger lane, so
both lanes get the same images, module settings and stamps. The Debian client
(`/usr/bin/docker`, Docker 20.10) is used with DOCKER_BUILDKIT=1: it needs no
buildx plugin, and no `# syntax=` line (which would pull a frontend image).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core import spec
from pipeline.core.plan import images
from pipeline.core.settings import Settings
from pipeline.core.spec import node_major
from pipeline.core.source_facts import BuildStamp



def _checkout_root() -> Path | None:
    """This repository's root when running from a checkout (or an editable install), else None.

    An installed wheel lives in site-packages: nothing may be written next to
    it, and it holds no Dockerfile.dev (the lane renders one per run instead)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "pipeline" / "core" / "spec.py").is_file() else None


REPO_ROOT: Path | None = _checkout_root()


def rendered_dockerfile() -> Path:
    """Dockerfile.dev (+ its .dockerignore) rendered from the spec into a build directory.

    The directory is keyed by the render's content, so it is written once per
    spec and shared by concurrent builds; it works the same from a checkout and
    from an installed wheel. BuildKit reads ``<Dockerfile>.dockerignore`` next
    to the Dockerfile."""
    from pipeline.docker_lane.dockerfile import FILES

    texts = {name: fn() for name, fn in FILES.items()}
    digest = hashlib.sha256("\0".join(texts.values()).encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f"flamenco-pipeline-{os.getuid()}" / digest
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = out / name
        if not path.is_file() or path.read_text() != text:
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
    return out / "Dockerfile.dev"


def docker_binary() -> str:
    """The BuildKit-capable client: Debian's /usr/bin/docker if present, else PATH."""
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


def docker_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def engine_problem(timeout: float = 30) -> str | None:
    """None if a Docker engine answers, else the client's one-line reason."""
    try:
        proc = subprocess.run([docker_binary(), "version", "--format", "{{.Server.Version}}"], env=docker_env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return "no docker client found (install Docker)"
    except subprocess.TimeoutExpired:
        return f"the Docker engine did not answer within {timeout:.0f}s"
    if proc.returncode == 0 and proc.stdout.strip():
        return None
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return next((ln for ln in lines if "daemon" in ln.lower() or "connect" in ln.lower()), lines[-1] if lines else
                f"docker version exited {proc.returncode}")


# Run-time-only values among the build args: passed as BuildKit secrets (from the client's
# environment), which are in no cache key, instead of `--build-arg` (which would invalidate
# every step of a stage when only the value changes). Read by spec.step_script.
RUNTIME_ONLY_ARGS = {"STEP_TIMEOUT": "step_timeout"}


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


def local_image_platform(ref: str) -> str | None:
    """`os/arch` of a local image (None when it is not in the engine's store)."""
    try:
        proc = subprocess.run([docker_binary(), "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref],
                              env=docker_env(), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):  # no client or no engine: the engine check says so next
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def target_platform(settings: Settings, go_version: str, inspect=local_image_platform) -> str:
    """The one platform this lane builds, checked like the Dagger lane checks its stages.

    Docker 20.10's image store holds one platform per tag, so one platform per run. Every
    image a target-platform stage starts FROM must have that variant: an image that is
    local and of another platform is refused, naming it (BuildKit would otherwise take
    what it has, and the report would claim a platform that was never built).
    """
    from pipeline.core.settings import SettingsError

    if len(settings.platforms) != 1:
        raise SettingsError("platforms", ",".join(settings.platforms),
                            "the Docker lane builds one platform per run (its image store holds one per tag); "
                            "pass one, or use the Dagger lane for a multi-platform image")
    (want,) = settings.platforms
    imgs = images(settings, go_version)
    for st in spec.STAGES:
        if st.image and st.platform == "target":
            have = inspect(imgs[st.image])
            if have is not None and have != want:
                raise SettingsError(f"{st.image}_image", imgs[st.image],
                                    f"has no {want} variant (the local image is {have}, for stage {st.name}); "
                                    f"pass a {want} or multi-platform image or drop {want} from --platforms")
    return want


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
    platform: str | None = None  # --platform: the target platform (builder stages stay native)
    progress: str = "plain"
    extra: list[str] = field(default_factory=list)
    dockerfile: Path | None = None  # default: rendered from the spec (rendered_dockerfile)

    def command(self) -> list[str]:
        dockerfile = self.dockerfile or rendered_dockerfile()
        cmd = [docker_binary(), "build", "-f", str(dockerfile), "--target", self.target, f"--progress={self.progress}"]
        for k, v in sorted(self.args.items()):
            if k in RUNTIME_ONLY_ARGS:
                cmd += ["--secret", f"id={RUNTIME_ONLY_ARGS[k]},env={k}"]
            else:
                cmd += ["--build-arg", f"{k}={v}"]
        if self.platform:
            cmd += ["--platform", self.platform]
        if self.tag:
            cmd += ["-t", self.tag]
        if self.output:
            cmd += ["--output", f"type=local,dest={self.output}"]
        if self.ca_cert:
            cmd += ["--secret", f"id=extra_ca,src={self.ca_cert}"]
        if self.go_netrc:
            cmd += ["--secret", f"id=go_netrc,src={self.go_netrc}"]
        return cmd + self.extra + [str(self.context)]

    def run(self, *, log_path: Path | None = None, timeout: float | None = None,
            on_line: Callable[[str], None] | None = None) -> subprocess.CompletedProcess:
        """Run it, streaming: each line of BuildKit's progress goes to ``log_path``
        (flushed as it comes) and to ``on_line``. The whole text is the result's
        ``stderr`` (plain progress goes to stderr; stdout is merged into it)."""
        log = None
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = log_path.open("w", buffering=1)
        cmd = self.command()
        env = docker_env() | {k: v for k, v in self.args.items() if k in RUNTIME_ONLY_ARGS}  # --secret ...,env=K
        proc = subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, bufsize=1, errors="replace")
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, stop) if timeout else None
        if timer:
            timer.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if log:
                    log.write(line)
                if on_line:
                    on_line(line)
            code = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if log:
                log.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if expired.is_set():
            raise subprocess.TimeoutExpired(cmd, timeout or 0, output="".join(lines))
        return subprocess.CompletedProcess(cmd, code, "", "".join(lines))
