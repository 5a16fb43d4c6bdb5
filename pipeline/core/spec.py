"""The stage spec: the single, engine-free description of the build.

Everything both lanes do is declared here once: images, environment, cache
volumes, which files each stage copies, the commands it runs and the runtime
images it assembles. :mod:`pipeline.dagger_lane.stages` turns it into Dagger
containers, :mod:`pipeline.docker_lane.dockerfile` into `Dockerfile.dev`, and the docs
and `flamenco-pipeline plan` print it. Nothing in this module imports dagger.

Tiers: base -> deps -> build-tools -> app (then test/check and the runtime images).
Each stage copies only what can change its result, so a source-only change
re-runs only the app tier, a docs-only change nothing, and Go deps / web deps /
the add-on run concurrently. The images' critical path is go-base -> go-mod ->
go-source -> go-build (fetches only the binaries' modules, compiles the worker
and the manager's packages) -> app (the manager, with the web app). After
go-build: the tools (gotestsum, staticcheck), joined only into test and check,
and go-deps (every module in go.sum, for test and check); `go mod verify` goes
only into the reports.
Every Go step runs as the non-root build user (Flamenco's own tests refuse root).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TIERS = ("base", "deps", "build-tools", "app", "verify", "runtime")

SRC = "/src"
OUT = "/out"
REPORTS = "/reports"
TOOLS_BIN = "/usr/local/bin"
CA_SECRET_PATH = "/run/secrets/extra_ca"  # where the optional extra CA bundle is mounted
# Every Go step runs as this non-root user (a passwd entry, a home): Flamenco's
# TestCheckSharedStoragePath refuses to run as root, and nothing in a build needs root.
BUILD_USER = "builder"
BUILD_UID = 10002  # also its gid; distinct from the runtime user's
BUILD_HOME = f"/home/{BUILD_USER}"
NETRC_PATH = f"{BUILD_HOME}/.netrc"  # the optional netrc for private Go modules: $HOME/.netrc of the Go steps
# Optional per-step mounts: Dagger File/Secret mounts, BuildKit `--mount=type=secret`.
# Mounted for the step only, so they never land in a layer, an image or a cache key.
# `step_timeout` carries STEP_TIMEOUT in the Docker lane: a secret is in no cache key, so
# changing --step-timeout re-runs nothing (the Dagger lane uses a volatile variable instead).
STEP_TIMEOUT_PATH = "/run/secrets/step_timeout"
SECRET_MOUNTS = {"extra_ca": CA_SECRET_PATH, "go_netrc": NETRC_PATH, "step_timeout": STEP_TIMEOUT_PATH}
APP_DIR = "/opt/flamenco"  # binaries; Flamenco resolves its local storage next to the exe
DATA_DIR = "/var/lib/flamenco"  # CWD of both apps: their config files and databases
SHARED_STORAGE = "/srv/flamenco/shared"  # must be the same path on manager and workers
RUNTIME_USER = "flamenco"
RUNTIME_UID = 10001
USER_IDS = {BUILD_USER: BUILD_UID, RUNTIME_USER: RUNTIME_UID}  # numeric ids, for cache/secret mount owners
MANAGER_PORT = 8080
SBOM_DIR = "/sbom"

# Paths never sent to a build: VCS data, build outputs, dependency trees that
# the deps stages install themselves. Drives Dagger excludes and the
# Dockerfile's .dockerignore alike.
SOURCE_EXCLUDES = (
    ".git",
    "**/node_modules",
    "**/__pycache__",
    "web/static/*",
    "!web/static/emptyfile",
    "dist",
    "mage",
    "flamenco-manager",
    "flamenco-worker",
    "flamenco-manager.exe",
    "flamenco-worker.exe",
    "repro.json",  # written by `flamenco-pipeline repro --record` (CI, Flamenco's own repo: --source=.)
)
# Dagger `Ignore` on the module's `source` argument: the same, applied when the CLI uploads
# the directory, so what the pipeline writes into a checkout (dist/, repro.json) never changes
# the source's digest. `.git` stays: the stamp's hash is read from .git/HEAD.
SOURCE_IGNORE = tuple(p for p in SOURCE_EXCLUDES if p != ".git")


@dataclass(frozen=True)
class Param:
    """A value supplied per run: a Dagger argument or a Docker build arg.

    `default` is what the committed Dockerfile uses; None means "unset", which
    for the Go variables means the toolchain's own default.
    """

    name: str
    doc: str
    default: str | None = None


@dataclass(frozen=True)
class Cache:
    """A cache volume: Dagger CacheVolume or BuildKit `RUN --mount=type=cache`."""

    key: str  # logical key; the volume id adds toolchain version/platform (see volume_id)
    path: str
    sharing: str = "shared"  # shared | locked | private
    doc: str = ""
    toolchain: str | None = None  # "go" / "node": the id carries that version + the build platform

    def volume_id(self, versions: dict[str, str], platform: str, uid: int | None = None) -> str:
        """Volume name: incompatible toolchains, platforms and owners never share one.

        `uid`: the non-root user the steps run as (its files in the volume are its
        own); None for root, whose ids stay as they were."""
        owner = f"-uid{uid}" if uid is not None else ""
        if self.toolchain is None:
            return f"flamenco-{self.key}{owner}"
        return f"flamenco-{self.key}-{self.toolchain}{versions[self.toolchain]}-{platform.replace('/', '-')}{owner}"


@dataclass(frozen=True)
class Copy:
    """Copy paths from the source (from_stage=None) or from another stage.

    Source paths ending in '/' are directories; a last component with '*' is a
    glob within one directory (``web/*.go``). Destinations are absolute.
    """

    paths: tuple[str, ...]
    dest: str = SRC
    from_stage: str | None = None


@dataclass(frozen=True)
class Run:
    name: str
    script: str  # POSIX sh; run as `sh -c` in both lanes
    caches: tuple[Cache, ...] = ()
    network: bool = False  # may download: gets the extra CA and a bounded time
    timeout: int | None = None  # seconds; None = the step_timeout setting
    keep_going: bool = False  # a non-zero exit still yields the container (test reports)
    # keep-going steps: where the exit code goes when the step is stopped before writing it
    # (a timeout), so the stage still succeeds and its reports come back in both lanes
    exit_code_file: str | None = None
    secrets: tuple[str, ...] = ()  # extra SECRET_MOUNTS ids for this step (network adds extra_ca)

    @property
    def mounts(self) -> tuple[str, ...]:
        return (("extra_ca",) if self.network else ()) + self.secrets


Step = Copy | Run


@dataclass(frozen=True)
class Stage:
    name: str
    tier: str
    doc: str
    image: str | None = None  # key of an image Param ("go", "node", ...) or None with parent
    parent: str | None = None  # stage this one starts FROM
    platform: str = "build"  # build: native, cross-compiles; target: one per target platform
    env: tuple[tuple[str, str], ...] = ()  # value may be "${PARAM}" to expand a Param
    params: tuple[str, ...] = ()  # Params this stage's commands read (Docker ARGs)
    workdir: str = SRC
    steps: tuple[Step, ...] = ()
    # runtime image metadata
    user: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    expose: tuple[int, ...] = ()
    healthcheck: str | None = None
    outputs: tuple[str, ...] = ()  # paths other stages or exports read from this one


# Every Run step executes as `sh -c <script>` with this prelude, identically in
# both lanes: the optional extra CA bundle (mounted, never baked into a layer)
# is trusted by Go, git and Node, and the step runs under a time limit that
# names the step when it fires.
CA_PRELUDE = f"""if [ -s {CA_SECRET_PATH} ]; then
  cat /etc/ssl/certs/ca-certificates.crt {CA_SECRET_PATH} > /tmp/flamenco-ca.pem 2>/dev/null || cp {CA_SECRET_PATH} /tmp/flamenco-ca.pem
  export SSL_CERT_FILE=/tmp/flamenco-ca.pem GIT_SSL_CAINFO=/tmp/flamenco-ca.pem NODE_EXTRA_CA_CERTS={CA_SECRET_PATH}
fi"""


def step_script(step: Run) -> str:
    """The exact `sh -c` script both lanes run for a step."""
    inner = "set -e\n" + step.script
    quoted = "'" + inner.replace("'", "'\"'\"'") + "'"
    # STEP_TIMEOUT is a run-time value, never a build input: the Dagger lane gives it as a
    # volatile variable, the Docker lane as the `step_timeout` secret file; 900 s otherwise.
    limit = str(step.timeout) if step.timeout else "${limit:-900}"
    read_limit = [] if step.timeout else [f'limit="${{STEP_TIMEOUT:-$(cat {STEP_TIMEOUT_PATH} 2>/dev/null || true)}}"']
    lines = [
        "set -e",
        *read_limit,
        *(CA_PRELUDE.splitlines() if step.network else []),
        f"timeout -k 10 {limit} sh -c {quoted} || {{ rc=$?; "
        f"if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo \"flamenco-pipeline: step '{step.name}' took longer than {limit}s and was stopped\" >&2; fi; "
        + (f'mkdir -p "$(dirname {step.exit_code_file})"; [ -s {step.exit_code_file} ] || echo $rc > {step.exit_code_file}; exit 0; '
           if step.keep_going and step.exit_code_file else "")
        + "exit $rc; }",
    ]
    return "\n".join(lines)


# --- caches -----------------------------------------------------------------
GOMODCACHE = Cache(
    "gomod", "/go/pkg/mod",
    doc="Go module cache (GOMODCACHE). Content-addressed and verified by go.sum, "
    "safe to share across Go versions; also holds toolchains fetched by GOTOOLCHAIN=auto.",
)
GOCACHE = Cache(
    "gobuild", f"{BUILD_HOME}/.cache/go-build", toolchain="go",
    doc="Go build and test cache (GOCACHE), one per Go version and build platform.",
)
YARN_CACHE = Cache(
    "yarn", "/usr/local/share/.cache/yarn", sharing="locked", toolchain="node",
    doc="Yarn classic cache (YARN_CACHE_FOLDER); yarn 1 is not safe for concurrent "
    "writers, so the volume is locked.",
)
GO_CACHES = (GOMODCACHE, GOCACHE)
GO_SECRETS = ("go_netrc",)  # private modules: the go command reads $HOME/.netrc
CACHES = (GOMODCACHE, GOCACHE, YARN_CACHE)

# --- defaults (settings.py re-exports these; the Dockerfile's ARG defaults use them) ---
# Upstream Flamenco: the pinned stable release built by default. Tags are
# `v${VERSION}` (Flamenco's Makefile prints `git tag -a ... v${VERSION}`).
UPSTREAM_GIT_URL = "https://projects.blender.org/studio/flamenco.git"
UPSTREAM_GIT_REF = "v3.8.5"
# Official images, overridable. The Go image tag is derived from go.mod.
GO_IMAGE_TEMPLATE = "golang:{go_version}-bookworm"
DEFAULT_GO_VERSION = "1.26.2"  # only the committed Dockerfile's ARG default; runs read go.mod
NODE_IMAGE = "node:22-bookworm-slim"
PYTHON_IMAGE = "python:3.13-slim-bookworm"
RUNTIME_IMAGE = "debian:bookworm-slim"
# Tools added on top of Flamenco's own go.mod, fetched with `go install module@version`
# through the module proxy, so the checksum database verifies them.
GOTESTSUM_VERSION = "v1.13.0"
STATICCHECK_VERSION = "v0.7.0"  # the honnef.co/go/tools version Flamenco 3.9 pins



def node_major(image: str) -> str:
    """Node major version from an image tag (node:22-bookworm-slim -> 22), for cache ids."""
    m = re.search(r":v?(\d+)(?:[.-]|$)", image)
    return m.group(1) if m else "custom"


# --- parameters ---------------------------------------------------------------
GO_MODULE_VARS = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY")
PARAMS = {
    "GO_IMAGE": Param("GO_IMAGE", "Go builder image (default: golang:<go.mod version>-bookworm).",
                      GO_IMAGE_TEMPLATE.format(go_version=DEFAULT_GO_VERSION)),
    "NODE_IMAGE": Param("NODE_IMAGE", "Node image for the web app.", NODE_IMAGE),
    "PYTHON_IMAGE": Param("PYTHON_IMAGE", "Python image that packs the add-on.", PYTHON_IMAGE),
    "RUNTIME_IMAGE": Param("RUNTIME_IMAGE", "Base of the runtime images.", RUNTIME_IMAGE),
    **{v: Param(v, f"{v} for Go; empty = the Go toolchain's default.") for v in GO_MODULE_VARS},
    "GOFLAGS": Param("GOFLAGS", "GOFLAGS for every Go step.", "-mod=readonly"),
    "NPM_REGISTRY": Param("NPM_REGISTRY", "npm registry (mirror) for yarn; empty = yarn's own default."),
    "ALLOW_UNSAFE_GO_MODULES": Param(
        "ALLOW_UNSAFE_GO_MODULES", "Set to 1 to allow GOPROXY=direct/off or GOSUMDB=off.", "0"
    ),
    "STEP_TIMEOUT": Param("STEP_TIMEOUT", "Seconds a network step may take.", "900"),
    "GOTESTSUM_VERSION": Param("GOTESTSUM_VERSION", "gotestsum version.", GOTESTSUM_VERSION),
    "STATICCHECK_VERSION": Param("STATICCHECK_VERSION", "staticcheck version.", STATICCHECK_VERSION),
    "FLAMENCO_VERSION": Param("FLAMENCO_VERSION", "Version stamped into the binaries; empty = Makefile VERSION."),
    "FLAMENCO_GIT_HASH": Param("FLAMENCO_GIT_HASH", "Git hash stamped into the binaries (required)."),
    "FLAMENCO_RELEASE_CYCLE": Param(
        "FLAMENCO_RELEASE_CYCLE", "Release cycle stamped into the binaries; empty = Makefile RELEASE_CYCLE."
    ),
    "SOURCE_URL": Param("SOURCE_URL", "Source repository URL for the OCI labels.", UPSTREAM_GIT_URL.removesuffix(".git")),
}
IMAGE_PARAMS = {"go": "GO_IMAGE", "node": "NODE_IMAGE", "python": "PYTHON_IMAGE", "runtime": "RUNTIME_IMAGE"}
STAMP_PARAMS = ("FLAMENCO_VERSION", "FLAMENCO_GIT_HASH", "FLAMENCO_RELEASE_CYCLE")

# --- scripts ------------------------------------------------------------------
# Refuses the module settings that broke Flamenco's Docker builds, also for
# plain `docker build` users who bypass the Python settings validation.
GUARD_GO_MODULES = r"""proxies=",$(printf '%s' "${GOPROXY:-}" | tr '|' ','),"
case "${proxies}" in
  ,direct,*|*,off,*)
    [ "${ALLOW_UNSAFE_GO_MODULES:-0}" = 1 ] || { echo "flamenco-pipeline: GOPROXY='${GOPROXY}' bypasses the module proxy; unset it or set ALLOW_UNSAFE_GO_MODULES=1" >&2; exit 2; } ;;
esac
if [ "${GOSUMDB:-}" = off ] && [ "${ALLOW_UNSAFE_GO_MODULES:-0}" != 1 ]; then
  echo "flamenco-pipeline: GOSUMDB=off disables checksum verification; unset it or set ALLOW_UNSAFE_GO_MODULES=1" >&2; exit 2
fi
for patterns in "${GOPRIVATE:-}" "${GONOSUMDB:-}" "${GONOPROXY:-}"; do
  case ",${patterns}," in
    *,\*,*|*,\*/\*,*)
      [ "${ALLOW_UNSAFE_GO_MODULES:-0}" = 1 ] || { echo "flamenco-pipeline: a bare '*' in GOPRIVATE/GONOSUMDB/GONOPROXY skips the proxy and checksum database; list your private module paths or set ALLOW_UNSAFE_GO_MODULES=1" >&2; exit 2; } ;;
  esac
done"""

# `go env -json` inside the build: the effective values, not our defaults (for the report).
SHOW_GO_ENV = (
    f'[ ! -s {NETRC_PATH} ] || echo "flamenco-pipeline: netrc for private modules: mounted"\n'
    'echo "flamenco-pipeline: effective Go module settings:"\n'
    "go env -json GOVERSION GOTOOLCHAIN GOPROXY GOSUMDB GOPRIVATE GONOSUMDB GONOPROXY GOFLAGS GOMODCACHE GOCACHE"
)

VERSION_DEFAULT = r''': "${FLAMENCO_VERSION:=$(sed -n 's/^VERSION *:*= *//p' Makefile)}"'''
STAMP_DEFAULTS = VERSION_DEFAULT + r"""
: "${FLAMENCO_RELEASE_CYCLE:=$(sed -n 's/^RELEASE_CYCLE *:*= *//p' Makefile)}"
[ -n "${FLAMENCO_VERSION}" ] || { echo "flamenco-pipeline: FLAMENCO_VERSION is empty and Makefile has no VERSION; pass it" >&2; exit 2; }
[ -n "${FLAMENCO_GIT_HASH}" ] || { echo "flamenco-pipeline: FLAMENCO_GIT_HASH is empty; pass e.g. \$(git rev-parse --short HEAD)" >&2; exit 2; }
[ -n "${FLAMENCO_RELEASE_CYCLE}" ] || { echo "flamenco-pipeline: FLAMENCO_RELEASE_CYCLE is empty and Makefile has none; pass it" >&2; exit 2; }"""

# The ldflags Flamenco's magefiles pass (facts §2), with the module path read
# from go.mod so that forks and the test fixture get the right package.
GO_LDFLAGS = STAMP_DEFAULTS + r"""
export GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}"
appinfo="$(go list -m)/internal/appinfo"
ldflags="${LDFLAGS:-} -X ${appinfo}.ApplicationVersion=${FLAMENCO_VERSION} -X ${appinfo}.ApplicationGitHash=${FLAMENCO_GIT_HASH} -X ${appinfo}.ReleaseCycle=${FLAMENCO_RELEASE_CYCLE}"
mkdir -p /out/bin /out/buildinfo"""

# go-build writes this constant file when the Go build cache holds every package the two
# binaries import. The tool stages copy it before their `go install`, so they compile after
# the binaries' packages instead of beside them (on 2 cores that halved the app's speed and
# compiled the standard library twice: docs/performance.md). Its content never changes, so a
# source change re-runs go-build and still leaves the tools cached.
GO_CACHE_FILLED = f"{OUT}/go-build-cache-filled"


def built_line(binary: str) -> str:
    return (f'echo "flamenco-pipeline: built {binary} ${{FLAMENCO_VERSION}} (${{FLAMENCO_GIT_HASH}}, '
            f'${{FLAMENCO_RELEASE_CYCLE}}) for ${{GOOS}}/${{GOARCH}}"\n'
            f'go version -m "/out/bin/{binary}" > "/out/buildinfo/{binary}.txt"')


# The go command has no timeout on a stalled HTTPS connection: one hung fetch (seen on real
# Flamenco here: a TLS handshake that never completed) would hold the whole step until
# STEP_TIMEOUT. So each attempt gets GO_DOWNLOAD_ATTEMPT seconds and a timed-out attempt is
# retried (what it fetched stays in the module cache); a real error fails at once.
# (GO_DOWNLOAD_ATTEMPT_SECONDS overrides the attempt length: tests only.)
# `go mod download` fetches at most GOMAXPROCS modules at a time (cmd/go/internal/modcmd/
# download.go: `sem := make(chan token, runtime.GOMAXPROCS(0))`), i.e. 2 on a 2-core builder,
# though the work is waiting on the network. At least 8: real Flamenco 3.9's 146 zips took
# 54-62 s with 2 and 44-47 s with 8 (32: no better), fresh module cache, docs/performance.md.
GO_DOWNLOAD_ATTEMPT = 240


def fetch_modules(command: str, label: str, log: str) -> str:
    """`command` (a go command run with -x) retried on a stalled attempt; `label` names it in messages."""
    return r"""n=0
cpus="$(nproc 2>/dev/null || echo 1)"
until GOMAXPROCS="$(( cpus > 8 ? cpus : 8 ))" timeout -k 5 "${GO_DOWNLOAD_ATTEMPT_SECONDS:-%(attempt)d}" %(command)s 2>>%(log)s; do
  rc=$?; n=$((n+1))
  if [ $rc -ne 124 ] && [ $rc -ne 137 ]; then tail -n 40 %(log)s >&2; echo "flamenco-pipeline: fetching Go modules (%(label)s) failed (see above)" >&2; exit 1; fi
  [ $n -lt 3 ] || { tail -n 5 %(log)s >&2; echo "flamenco-pipeline: fetching Go modules (%(label)s) made no progress in 3 attempts of ${GO_DOWNLOAD_ATTEMPT_SECONDS:-%(attempt)d}s (last fetch above); check GOPROXY and the network" >&2; exit 1; }
  echo "flamenco-pipeline: fetching Go modules (%(label)s): attempt $n stopped after ${GO_DOWNLOAD_ATTEMPT_SECONDS:-%(attempt)d}s (a stalled fetch?); retrying, fetched modules are kept" >&2
done
echo "flamenco-pipeline: module zips fetched: $(grep -c '^# get .*\.zip$' %(log)s || true) (%(label)s)"
""" % {"attempt": GO_DOWNLOAD_ATTEMPT, "command": command, "label": label, "log": log}


# go-deps writes this constant file once every module in go.sum is in the module cache;
# test and check copy it first, so `go test/vet ./...` never fetch on their own.
GO_MODULES_DOWNLOADED = f"{OUT}/go-modules-downloaded"
GO_DOWNLOAD = fetch_modules("go mod download -x", "go mod download", "/tmp/go-mod-download.log") + f"""mkdir -p {OUT}
echo "every module in go.sum is in the module cache" > {GO_MODULES_DOWNLOADED}"""
# go-build's fetch: what `go build` of the two binaries loads, nothing for tests or tools.
GO_FETCH_FOR_BINARIES = fetch_modules(
    "go list -x -deps ./cmd/flamenco-worker ./cmd/flamenco-manager >/dev/null",
    "go list -deps of the binaries", "/tmp/go-list-deps.log")

# go-build fetches only the modules the two binaries import (63 of 146 zips on Flamenco 3.9;
# go-deps fetches the rest for test and check, after go-build), and meanwhile compiles the
# standard library packages the main module's own packages import: `go list -e` with
# GOPROXY=off names them from the sources alone (211 of the 233 the binaries need), so the
# compile uses the CPU the network leaves idle. Best effort: if it fails, the go build
# below compiles them and shows the cause. Then one `go build` of both binaries: the
# worker is final (it embeds no web app); the manager is linked only to fill the Go build
# cache with every package it imports, so app compiles only `web` and the manager's main
# package and links. One command, not two: one step, one `-v` list (on real Flamenco it took
# 93.9 s against two commands' 114.9 s once, 91.5 s against 91.7 s again: docs/performance.md).
BUILD_BINARIES = GO_LDFLAGS + r"""
std_packages="$(GOPROXY=off go list -e -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' ./cmd/flamenco-worker ./cmd/flamenco-manager 2>/dev/null || true)"
std_pid=""
if [ -n "${std_packages}" ]; then GOPROXY=off go build ${std_packages} & std_pid=$!; fi
""" + GO_FETCH_FOR_BINARIES + r"""
if [ -n "${std_pid}" ]; then
  wait "${std_pid}" || echo "flamenco-pipeline: compiling the standard library ahead of the build failed (above); go build compiles it"
fi
scratch="$(mktemp -d)"
go build -v -ldflags="${ldflags}" -o "${scratch}/" ./cmd/flamenco-worker ./cmd/flamenco-manager
mv "${scratch}/flamenco-worker" /out/bin/flamenco-worker && rm -rf "${scratch}"
""" + built_line("flamenco-worker") + f"""
echo "the Go build cache holds the packages of flamenco-manager and flamenco-worker" > {GO_CACHE_FILLED}"""

BUILD_MANAGER = GO_LDFLAGS + r"""
go build -v -ldflags="${ldflags}" -o /out/bin/ ./cmd/flamenco-manager
""" + built_line("flamenco-manager")

# The add-on zip as Flamenco's magefiles/addonpacker.go packs it: pipeline/container_scripts/addon_zip.py
# (its rules are in its docstring), embedded verbatim, so both lanes run the same code.
ADDON_ZIP = f"{OUT}/flamenco-addon.zip"
PACK_ADDON = VERSION_DEFAULT + f"""
[ -n "${{FLAMENCO_VERSION}}" ] || {{ echo "flamenco-pipeline: FLAMENCO_VERSION is empty and Makefile has no VERSION; pass it" >&2; exit 2; }}
python3 - {ADDON_ZIP} "${{FLAMENCO_VERSION}}" <<'PY'
{(Path(__file__).parents[1] / "container_scripts" / "addon_zip.py").read_text().rstrip()}
PY"""

# Always exits 0: the exit code is a report, so reports come back when tests fail.
RUN_TESTS = r"""mkdir -p /reports
echo "flamenco-pipeline: go test runs as $(id -un) (uid $(id -u))"
set +e
gotestsum --junitfile /reports/junit.xml --jsonfile /reports/go-test.json --format testname -- -short -coverprofile=/reports/coverage.out ./...
echo $? > /reports/exit-code
set -e
[ -s /reports/coverage.out ] && go tool cover -func=/reports/coverage.out > /reports/coverage.txt || true
echo "flamenco-pipeline: go test exit code $(cat /reports/exit-code)"
"""

# `go mod download` already checks every zip it fetches against go.sum (and the checksum
# database for lines go.sum lacks). `go mod verify` re-hashes what sits in the shared module
# cache volume, i.e. catches a cache altered after download. Off the images' critical path
# (measured: docs/performance.md); the test reports carry its output, so `ci`/`test` fail on it.
GO_VERIFY = f"""mkdir -p {OUT}
status=0
go mod verify > {OUT}/go-mod-verify.txt 2>&1 || status=$?
cat {OUT}/go-mod-verify.txt
exit $status"""  # no `| tee`: POSIX sh has no pipefail, tee's 0 would hide a failed verify

# Tools added on top of Flamenco's go.mod, each in its own stage from go-base (not from
# go-mod: `go install module@version` ignores the main module); they compile after
# go-build, and only test / check wait for them.
TOOLS_OUT = f"{OUT}/tools"


def install_tool(module_at_version: str) -> str:
    return f"GOBIN={TOOLS_OUT} go install {module_at_version}"

# yarn 1 fetches lockfile URLs on its default registry from the configured one, so a
# mirror (--npm-registry) serves Flamenco's yarn.lock as it is. Unset: yarn's default.
YARN_INSTALL = r"""[ -z "${NPM_REGISTRY:-}" ] || export YARN_REGISTRY="${NPM_REGISTRY}"
echo "flamenco-pipeline: effective npm registry: $(yarn config get registry)"
yarn --cwd web/app install --frozen-lockfile --non-interactive --network-timeout 120000"""

CHECKS = r"""go vet ./...
unformatted="$(gofmt -l .)"
[ -z "${unformatted}" ] || { echo "flamenco-pipeline: gofmt would change:" >&2; echo "${unformatted}" >&2; exit 1; }
staticcheck ./..."""

# CycloneDX 1.5 SBOMs from what is really inside: Go modules from each binary's
# build info (`go version -m`), Debian packages from each image's dpkg database.
# Deterministic (no timestamps; serial number derived from the content).
SBOM_SCRIPT = r"""mkdir -p /sbom
python3 - <<'PY'
import hashlib, json, pathlib, uuid

def go_components(text):
    for line in text.splitlines():
        f = line.strip().split("\t")
        if f[0] == "dep" and len(f) >= 3:
            yield {"type": "library", "name": f[1], "version": f[2],
                   "purl": f"pkg:golang/{f[1]}@{f[2]}",
                   "properties": [{"name": "go:checksum", "value": f[3]}] if len(f) > 3 else []}

def deb_components(text):
    for para in text.split("\n\n"):
        kv = dict(l.split(": ", 1) for l in para.splitlines() if ": " in l and not l.startswith(" "))
        if kv.get("Status", "").endswith(" installed") and "Package" in kv:
            name, ver, arch = kv["Package"], kv.get("Version", ""), kv.get("Architecture", "")
            yield {"type": "library", "name": name, "version": ver,
                   "purl": f"pkg:deb/debian/{name}@{ver}?arch={arch}"}

src = pathlib.Path("/sbom-in")
for kind in ("manager", "worker"):
    info = (src / "buildinfo" / f"flamenco-{kind}.txt").read_text()
    go_version = info.splitlines()[0].split(": ", 1)[1]
    comps = list(go_components(info)) + list(deb_components((src / f"{kind}.dpkg").read_text()))
    comps.sort(key=lambda c: c["purl"])
    body = json.dumps(comps, sort_keys=True).encode()
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
           "serialNumber": "urn:uuid:" + str(uuid.UUID(hashlib.sha256(body).hexdigest()[:32])),
           "metadata": {"component": {"type": "container", "name": f"flamenco-{kind}",
                                      "properties": [{"name": "go:toolchain", "value": go_version}]},
                        "tools": {"components": [{"type": "application", "name": "flamenco-pipeline"}]}},
           "components": comps}
    out = pathlib.Path(f"/sbom/flamenco-{kind}.cdx.json")
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"flamenco-pipeline: {out.name}: {len(comps)} components")
PY
"""

# The build user, as root in go-base; its home holds GOCACHE and the netrc mount point.
ADD_BUILD_USER = (
    f"groupadd --gid {BUILD_UID} {BUILD_USER} && "
    f"useradd --uid {BUILD_UID} --gid {BUILD_UID} --create-home --home-dir {BUILD_HOME} --shell /bin/sh {BUILD_USER} && "
    f"install -d -o {BUILD_USER} -g {BUILD_USER} {SRC} {OUT} {REPORTS} {BUILD_HOME}/.cache && "
    f"chown {BUILD_USER}:{BUILD_USER} {SRC} {BUILD_HOME}"  # both may exist already (WORKDIR, an earlier step's $HOME)
)

ADD_USER = (
    f"groupadd --gid {RUNTIME_UID} {RUNTIME_USER} && "
    f"useradd --uid {RUNTIME_UID} --gid {RUNTIME_UID} --home-dir {DATA_DIR} --shell /usr/sbin/nologin {RUNTIME_USER} && "
    f"install -d -o {RUNTIME_USER} -g {RUNTIME_USER} {DATA_DIR} {SHARED_STORAGE}"
)
# Flamenco resolves local_manager_storage_path next to the executable.
MANAGER_STORAGE = f"{APP_DIR}/flamenco-manager-storage"
ADD_MANAGER_STORAGE = f"install -d -o {RUNTIME_USER} -g {RUNTIME_USER} {MANAGER_STORAGE}"

INSTALL_FFMPEG = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg "
    "&& rm -rf /var/lib/apt/lists/* && ffmpeg -hide_banner -version | head -n 1"
)

# The Blender worker variant (`worker-blender`): Debian's blender package, found by Flamenco's
# default `blender` variable on PATH. Built only on request (--worker-blender / the target).
INSTALL_FFMPEG_BLENDER = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg blender "
    "&& rm -rf /var/lib/apt/lists/* && ffmpeg -hide_banner -version | head -n 1 && blender --version | head -n 1"
)

# Manager healthcheck with bash's /dev/tcp: no curl or wget in the image.
MANAGER_HEALTHCHECK = (  # run with bash (exec form), not sh
    "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /api/v3/version HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -n 1 <&3 | grep -q ' 200 '"
)

GO_ENV = (
    ("GOTOOLCHAIN", "auto"),  # official images pin `local`; auto lets a newer go.mod still build
    ("CGO_ENABLED", "0"),  # Flamenco's Makefile exports this for every recipe
    ("GOFLAGS", "${GOFLAGS}"),
    ("GOMODCACHE", GOMODCACHE.path),
    ("GOCACHE", GOCACHE.path),
    ("HOME", BUILD_HOME),  # the go command's $HOME (netrc, config) is the build user's
    ("GOPATH", f"{BUILD_HOME}/go"),  # the checksum database cache (GOPATH/pkg/sumdb) must be writable by it
    ("GIT_TERMINAL_PROMPT", "0"),  # never wait for credentials
    ("GIT_HTTP_LOW_SPEED_LIMIT", "1000"),  # a stalled VCS fetch fails instead of hanging
    ("GIT_HTTP_LOW_SPEED_TIME", "60"),
    *((v, "${" + v + "}") for v in GO_MODULE_VARS),
)

# What the Go build reads besides go.mod/go.sum (copied by go-mod), and nothing else:
# Flamenco's Go packages live in cmd/, internal/, pkg/ and web/ (web_app.go only), and
# its //go:embed lines (Flamenco 3.9: `grep -rn go:embed --include=*.go`) embed only
# paths inside them: web/static (web/web_app.go), internal/manager/swagger_ui/static,
# internal/manager/job_compilers/scripts, internal/{manager,worker}/persistence/migrations/*.sql.
# web/static holds only the committed emptyfile here (the web app is added by the app stage),
# which is what `go vet/test ./...` need. pipeline/core/go_inputs.py checks a tree against this.
GO_SOURCES = ("cmd/", "internal/", "pkg/", "web/*.go", "web/static/emptyfile")
# Go files that no build or test compiles (build tags `mage` / `ignore`), but gofmt reads.
GO_CHECK_ONLY = ("mage.go", "magefiles/")

# The first step of the tool stages: wait for go-build's packages in the Go build cache.
AFTER_GO_BUILD = Copy((GO_CACHE_FILLED,), dest=GO_CACHE_FILLED, from_stage="go-build")
# The first step of test and check: wait for every module in go.sum.
AFTER_GO_DEPS = Copy((GO_MODULES_DOWNLOADED,), dest=GO_MODULES_DOWNLOADED, from_stage="go-deps")


def _tool_stage(name: str, doc: str, version_param: str, package: str) -> Stage:
    """A tool stage: go-base, wait for go-build's packages, `go install package@${version_param}`."""
    return Stage(
        name, "build-tools", doc,
        parent="go-base", params=(version_param,),
        steps=(AFTER_GO_BUILD,
               Run(f"go install {name}", install_tool(f"{package}@${{{version_param}}}"),
                   caches=GO_CACHES, network=True, secrets=GO_SECRETS),),
        outputs=(f"{TOOLS_OUT}/{name}",),
    )


def _worker_stage(name: str, doc: str, install: Run) -> Stage:
    """A worker runtime image; the variants differ only in what `install` puts in."""
    return Stage(
        name, "runtime", doc,
        image="runtime", platform="target", workdir=DATA_DIR,
        env=(("HOME", DATA_DIR), ("FLAMENCO_HOME", DATA_DIR)),
        steps=(
            install,
            Run("add user", ADD_USER),
            Copy((f"{OUT}/bin/flamenco-worker",), dest=f"{APP_DIR}/flamenco-worker", from_stage="go-build"),
        ),
        user=RUNTIME_USER, entrypoint=(f"{APP_DIR}/flamenco-worker",),
    )


STAGES: tuple[Stage, ...] = (
    # ---- base
    Stage(
        "go-base", "base", "Go builder: toolchain, module settings, the non-root build user.",
        image="go", env=GO_ENV, params=("ALLOW_UNSAFE_GO_MODULES",),
        steps=(
            Run("check builder tools", "go version && git --version"),
            Run("add build user", ADD_BUILD_USER),
        ),
        user=BUILD_USER,
    ),
    Stage(
        "node-base", "base", "Node + yarn classic for the web app.",
        image="node", env=(("YARN_CACHE_FOLDER", YARN_CACHE.path),),
        steps=(Run("check node tools", "node --version && yarn --version"),),
    ),
    Stage("python-base", "base", "Python for packing the Blender add-on.", image="python"),
    # ---- deps
    Stage(
        "go-mod", "deps", "go.mod and go.sum, with the Go module settings checked before anything is fetched.",
        parent="go-base", params=("ALLOW_UNSAFE_GO_MODULES",),
        steps=(
            Copy(("go.mod", "go.sum")),
            Run(
                "check module settings",
                GUARD_GO_MODULES + "\n" + SHOW_GO_ENV,
                caches=GO_CACHES, network=True, secrets=GO_SECRETS,
            ),
        ),
    ),
    Stage(
        "web-deps", "deps", "Web app dependencies from the frozen yarn.lock.",
        parent="node-base", params=("NPM_REGISTRY",),
        steps=(
            Copy(("web/app/package.json", "web/app/yarn.lock")),
            Run(
                "yarn install",
                YARN_INSTALL,
                caches=(YARN_CACHE,), network=True,
            ),
        ),
    ),
    # ---- app
    Stage(
        "webapp", "app", "Build the Vue web app into web/static.",
        parent="web-deps",
        steps=(
            Copy(("web/app/",)),
            Run("yarn build", "yarn --cwd web/app build --outDir ../static --base=/app/ --logLevel warn"),
        ),
        outputs=(f"{SRC}/web/static",),
    ),
    Stage(
        "addon", "app", "Pack the Blender add-on zip that the manager serves.",
        parent="python-base", params=("FLAMENCO_VERSION",),
        steps=(
            Copy(("addon/", "Makefile")),
            Run("pack add-on", PACK_ADDON),
        ),
        outputs=(ADDON_ZIP,),
    ),
    Stage(
        "go-source", "app", "The Go sources and embedded files only; shared by go-build, test and check.",
        parent="go-mod", steps=(Copy(GO_SOURCES),),
    ),
    Stage(
        "go-build", "app", "Fetch the binaries' modules; compile flamenco-worker and every package flamenco-manager imports.",
        parent="go-source", platform="target", params=STAMP_PARAMS,
        steps=(Run("go build binaries", BUILD_BINARIES, caches=GO_CACHES, network=True, secrets=GO_SECRETS),),
        outputs=(f"{OUT}/bin", GO_CACHE_FILLED),
    ),
    # ---- deps, after go-build (AFTER_GO_BUILD; defined after it: a Dockerfile's COPY --from
    # names only stages above it): go-build fetches what the binaries need itself, and
    # this download's CPU (unzip, hashing: 21 s of 26 s on Flamenco) would slow its compile.
    Stage(
        "go-deps", "deps", "Every module in go.sum, through the module proxy, checked against go.sum; for test and check.",
        parent="go-mod",
        steps=(
            AFTER_GO_BUILD,
            Run("go mod download", GO_DOWNLOAD, caches=GO_CACHES, network=True, secrets=GO_SECRETS),
        ),
        outputs=(GO_MODULES_DOWNLOADED,),
    ),
    Stage(
        "go-verify", "deps", "go mod verify of the module cache; joined into the test reports only.",
        parent="go-deps",
        steps=(Run("go mod verify", GO_VERIFY, caches=GO_CACHES),),
        outputs=(f"{OUT}/go-mod-verify.txt",),
    ),
    # ---- build-tools: off the images' path, joined only into test and check; they compile after
    # go-build (AFTER_GO_BUILD), not beside it, so the standard library is compiled once. No mage:
    # nothing runs it (the go build step passes magefiles' ldflags itself, yarn builds the
    # web app, Python packs the add-on), and compiling it was 137 s of a cold build.
    _tool_stage("gotestsum", "gotestsum (JUnit XML from go test), for the test stage.",
                "GOTESTSUM_VERSION", "gotest.tools/gotestsum"),
    _tool_stage("staticcheck", "staticcheck, for the check stage.",
                "STATICCHECK_VERSION", "honnef.co/go/tools/cmd/staticcheck"),
    Stage(
        "app", "app", "Compile flamenco-manager with the web app and add-on embedded; /out/bin holds both binaries.",
        parent="go-build", platform="target", params=STAMP_PARAMS,
        steps=(
            Copy((f"{SRC}/web/static/",), dest=f"{SRC}/web/static", from_stage="webapp"),
            Copy((f"{OUT}/flamenco-addon.zip",), dest=f"{SRC}/web/static/flamenco-addon.zip", from_stage="addon"),
            Run("go build manager", BUILD_MANAGER, caches=GO_CACHES, network=True, secrets=GO_SECRETS),
        ),
        outputs=(f"{OUT}/bin",),
    ),
    # ---- verify: from go-source (web/static/emptyfile), never waiting for the web app
    Stage(
        "test", "verify", "go test through gotestsum, as the build user: JUnit XML, JSON and coverage in /reports.",
        parent="go-source",
        steps=(
            AFTER_GO_DEPS,
            Copy((f"{TOOLS_OUT}/gotestsum",), dest=f"{TOOLS_BIN}/gotestsum", from_stage="gotestsum"),
            Run("go test", RUN_TESTS, caches=GO_CACHES, network=True, secrets=GO_SECRETS, keep_going=True,
                exit_code_file=f"{REPORTS}/exit-code"),
            Copy((f"{OUT}/go-mod-verify.txt",), dest=f"{REPORTS}/go-mod-verify.txt", from_stage="go-verify"),
        ),
        outputs=(REPORTS,),
    ),
    Stage(
        "check", "verify", "go vet, gofmt and staticcheck, as the build user.",
        parent="go-source",
        steps=(
            AFTER_GO_DEPS,
            Copy(GO_CHECK_ONLY),
            Copy((f"{TOOLS_OUT}/staticcheck",), dest=f"{TOOLS_BIN}/staticcheck", from_stage="staticcheck"),
            Run("vet, gofmt, staticcheck", CHECKS, caches=GO_CACHES, network=True, secrets=GO_SECRETS),
        ),
    ),
    # ---- runtime
    Stage(
        "manager", "runtime", "Flamenco Manager runtime image: non-root, port 8080.",
        image="runtime", platform="target", workdir=DATA_DIR,
        env=(("HOME", DATA_DIR),),
        steps=(
            Run("add user", ADD_USER + " && " + ADD_MANAGER_STORAGE),
            Copy((f"{OUT}/bin/flamenco-manager",), dest=f"{APP_DIR}/flamenco-manager", from_stage="app"),
        ),
        user=RUNTIME_USER, entrypoint=(f"{APP_DIR}/flamenco-manager",), expose=(MANAGER_PORT,),
        healthcheck=MANAGER_HEALTHCHECK,
    ),
    _worker_stage("worker", "Flamenco Worker runtime image: non-root, with FFmpeg.",
                  Run("install ffmpeg", INSTALL_FFMPEG, network=True)),
    _worker_stage("worker-blender", "Flamenco Worker with Blender (Debian's package) and FFmpeg: on request.",
                  Run("install ffmpeg and blender", INSTALL_FFMPEG_BLENDER, network=True)),
    Stage(
        "sbom-build", "runtime", "CycloneDX SBOM of each runtime image (optional: --sbom / target sbom).",
        parent="python-base", platform="target",
        steps=(
            Copy((f"{OUT}/buildinfo/",), dest="/sbom-in/buildinfo", from_stage="app"),
            Copy(("/var/lib/dpkg/status",), dest="/sbom-in/manager.dpkg", from_stage="manager"),
            Copy(("/var/lib/dpkg/status",), dest="/sbom-in/worker.dpkg", from_stage="worker"),
            Run("write SBOMs", SBOM_SCRIPT),
        ),
        outputs=(SBOM_DIR,),
    ),
)

RUNTIME_STAGES = ("manager", "worker")

# --- the farm: `dev` and `integration-test` (Dagger services), compose.dev.yml (Docker)
MANAGER_HOSTNAME = "manager"  # the compose service name and the Dagger service hostname
MANAGER_URL = f"http://{MANAGER_HOSTNAME}:{MANAGER_PORT}/"  # what every worker is given (-manager)
MANAGER_DB = "flamenco-manager.sqlite"  # created by the manager in its CWD (DATA_DIR) at start-up
OPENAPI_SPEC = "pkg/api/flamenco-openapi.yaml"  # the source's API spec the served document must match
MAX_FARM_WORKERS = 32  # workers: 1..MAX_FARM_WORKERS
CHECKER_DIR = "/opt/flamenco-integration"  # in the checker container: the script, the spec, reports
PYYAML_VERSION = "6.0.2"  # the checker reads a YAML spec with PyYAML when the source has no JSON twin
INTEGRATION_REPORTS = ("integration.xml", "integration-timing.txt")  # JUnit, the timing line
# The checker's only setup: PyYAML, unless the image has it or the source has a JSON twin of
# the spec (the fixture does; Flamenco does not). Network step: extra CA, bounded time.
CHECKER_SETUP = Run(
    "checker: PyYAML if needed",
    f"""if python3 -c 'import yaml' 2>/dev/null || [ -s {CHECKER_DIR}/spec/{OPENAPI_SPEC.rsplit('/', 1)[1].rsplit('.', 1)[0]}.json ]; then
  echo "flamenco-pipeline: the checker reads the spec without installing anything"
else
  python3 -m pip install --no-cache-dir --disable-pip-version-check "pyyaml=={PYYAML_VERSION}"
fi""",
    network=True,
)


def worker_hostname(n: int) -> str:
    """Hostname (and name) of worker n (1-based): distinct, so services never merge."""
    return f"worker-{n}"

# Docker-lane export targets (`--target X --output type=local,dest=DIR`): FROM scratch + one copy.
EXPORTS = {"reports": ("test", REPORTS), "binaries": ("app", f"{OUT}/bin"), "sbom": ("sbom-build", SBOM_DIR)}


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)


def ancestry(name: str) -> list[Stage]:
    """The chain of stages from the root image to `name` (inclusive)."""
    chain = [stage(name)]
    while chain[-1].parent:
        chain.append(stage(chain[-1].parent))
    return list(reversed(chain))


def step_user(name: str) -> str | None:
    """The user the steps of stage `name` run as: the nearest ancestor's `user` (None: root).

    A stage's own `user` applies from its end on (go-base adds the build user as root,
    then switches to it), like Dockerfile USER and Dagger withUser."""
    for st in reversed(ancestry(name)[:-1]):
        if st.user:
            return st.user
    return None


def step_uid(name: str) -> int | None:
    """Numeric owner for the caches, secrets and copies of stage `name` (None: root)."""
    user = step_user(name)
    return USER_IDS[user] if user else None


def cache_uid(cache: Cache) -> int | None:
    """The owner of a cache volume: the user of the steps that mount it (one per cache)."""
    users = {step_uid(st.name) for st in STAGES for r in st.steps if isinstance(r, Run) and cache in r.caches}
    if len(users) > 1:
        raise ValueError(f"cache {cache.key} is mounted by steps of different users: {users}")
    return users.pop() if users else None


def check_stage_order(stages: tuple[Stage, ...]) -> None:
    """Every stage's parent and copy sources come before it: Dockerfile `FROM x` and
    `COPY --from=x` resolve only stages defined above (a later name is taken for an image)."""
    seen: set[str] = set()
    for st in stages:
        later = [d for d in [st.parent, *(c.from_stage for c in st.steps if isinstance(c, Copy))]
                 if d and d not in seen]
        if later:
            raise ValueError(f"stage {st.name} uses {', '.join(later)}, defined after it (or never); move it up")
        seen.add(st.name)


check_stage_order(STAGES)


def dependencies(name: str) -> list[str]:
    """Direct dependencies: the parent and any stage copied from."""
    s = stage(name)
    deps = [s.parent] if s.parent else []
    deps += [c.from_stage for c in s.steps if isinstance(c, Copy) and c.from_stage]
    return deps


# No image carries an empty version or revision label. The Dagger lane labels from the
# resolved stamp (never blank; labels() refuses blanks too). In the Docker lane a LABEL
# cannot read the Makefile, so the runtime stages run this guard on their build args
# before the label is written (rendered before their COPY --from=app, so a by-hand
# `docker build` or compose build without FLAMENCO_VERSION stops while the rest still runs).
LABEL_GUARD = Run(
    "check label values",
    r"""[ -n "${FLAMENCO_VERSION}" ] || { echo "flamenco-pipeline: FLAMENCO_VERSION is empty, so the image's org.opencontainers.image.version label would be empty; pass --build-arg FLAMENCO_VERSION=\$(sed -n 's/^VERSION *:*= *//p' Makefile) (compose: FLAMENCO_VERSION=...)" >&2; exit 2; }
[ -n "${FLAMENCO_GIT_HASH}" ] || { echo "flamenco-pipeline: FLAMENCO_GIT_HASH is empty, so the image's org.opencontainers.image.revision label would be empty; pass --build-arg FLAMENCO_GIT_HASH=\$(git rev-parse --short HEAD)" >&2; exit 2; }""",
)
LABEL_PARAMS = ("FLAMENCO_VERSION", "FLAMENCO_GIT_HASH", "SOURCE_URL")


def labels(version: str, revision: str, source_url: str, title: str) -> dict[str, str]:
    blank = [name for name, value in (("version", version), ("revision", revision)) if not str(value).strip()]
    if blank:
        raise ValueError(f"{title}: empty org.opencontainers.image.{blank[0]} label; the stamp must be resolved first")
    return {
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source_url,
        "org.opencontainers.image.licenses": "GPL-3.0-or-later",
        "org.opencontainers.image.vendor": "Blender Studio (built by flamenco-pipeline)",
    }


@dataclass
class Plan:
    """A spec resolved against settings + source facts, for printing (`plan`)."""

    images: dict[str, str]
    go_version: str
    node_version: str
    stages: tuple[Stage, ...] = STAGES
    caches: tuple[Cache, ...] = CACHES
    go_env: dict[str, str] = field(default_factory=dict)
    build_platform: str = "linux/amd64"

    @property
    def toolchains(self) -> dict[str, str]:
        return {"go": self.go_version, "node": self.node_version}

    def as_dict(self) -> dict:
        return {
            "go_version": self.go_version,
            "images": self.images,
            "go_module_env": self.go_env or {"(all)": "Go toolchain defaults"},
            "caches": [
                {"id": c.volume_id(self.toolchains, self.build_platform, cache_uid(c)),
                 "path": c.path, "sharing": c.sharing}
                for c in self.caches
            ],
            "stages": [
                {
                    "name": s.name,
                    "tier": s.tier,
                    "from": s.parent or f"image:{s.image}",
                    "needs": dependencies(s.name),
                    "doc": s.doc,
                    "copies": [p for st in s.steps if isinstance(st, Copy) and not st.from_stage for p in st.paths],
                    "runs": [st.name for st in s.steps if isinstance(st, Run)],
                }
                for s in self.stages
            ],
        }
