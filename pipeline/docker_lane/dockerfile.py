"""Render `Dockerfile.dev` (and its .dockerignore) from the stage spec.

The committed files must equal this render (tests/test_render_dockerfile.py).
Every RUN uses exec form `["sh", "-c", script]` with exactly the script the
Dagger lane runs (`spec.step_script`); a comment above shows it readably.
"""

from __future__ import annotations

import json

from pipeline.core import spec

HEADER = """\
# Dockerfile.dev: GENERATED from pipeline/core/spec.py by `flamenco-pipeline render dockerfile`.
# Do not edit by hand; a test fails when this file and the render differ.
#
# Same stages as the Dagger module: base -> deps -> build-tools -> app (+ test, check, runtime).
# Go steps run as the non-root build user; images need only go-base -> go-deps -> go-source -> app.
# Build from a Flamenco checkout (the build context), for example:
#   DOCKER_BUILDKIT=1 docker build -f Dockerfile.dev --target manager \\
#     --build-arg FLAMENCO_GIT_HASH=$(git rev-parse --short HEAD) \\
#     --build-arg FLAMENCO_VERSION=$(sed -n 's/^VERSION *:*= *//p' Makefile) -t flamenco-manager:dev .
# (manager and worker refuse an empty FLAMENCO_VERSION or FLAMENCO_GIT_HASH: they are the image labels)
# `flamenco-pipeline docker build` passes every build arg from the same settings as the Dagger lane.
# Targets: manager, worker, reports (export: --output type=local,dest=DIR), binaries, check.
# Extra CA bundle (corporate TLS proxy): --secret id=extra_ca,src=/path/ca.pem (never stored in a layer).
# Private Go modules: --secret id=go_netrc,src=$HOME/.netrc (mounted at the build user's ~/.netrc for Go steps only).
# Step time limit (default 900 s): STEP_TIMEOUT=600 ... --secret id=step_timeout,env=STEP_TIMEOUT
# (a secret, not a build arg, so changing it invalidates no cached step).
"""


def _arg(name: str) -> str:
    p = spec.PARAMS[name]
    return f"ARG {name}={p.default}" if p.default is not None else f"ARG {name}"


def _comment(text: str) -> list[str]:
    return [f"#   {line}".rstrip() for line in text.splitlines()]


def _owned(uid: int | None) -> str:
    """Mount options that make a non-root step user the owner (Docker 20.10's frontend has them)."""
    return f",uid={uid},gid={uid}" if uid is not None else ""


def _cache_mount(c: spec.Cache, uid: int | None = None) -> str:
    vid = c.volume_id(DOCKER_TOOLCHAINS, '${BUILDOS}/${BUILDARCH}', uid)
    return f"--mount=type=cache,id={vid},target={c.path},sharing={c.sharing}{_owned(uid)}"


# Intended to key cache ids by toolchain/platform like the Dagger lane. KNOWN GAP:
# Docker 20.10's built-in Dockerfile frontend does NOT expand build args in
# mount options (dockerfile >= 1.3 does), so there every Go version/platform
# shares one literal id. Safe (Go's build cache keys by toolchain itself) but
# not the separation the Dagger lane has; tracked in the session note.
DOCKER_TOOLCHAINS = {"go": "${GO_VERSION}", "node": "${NODE_MAJOR}"}


def _run(step: spec.Run, uid: int | None = None) -> list[str]:
    mounts = [_cache_mount(c, uid) for c in step.caches]
    ids = step.mounts + (() if step.timeout else ("step_timeout",))  # STEP_TIMEOUT: a secret, in no cache key
    mounts += [f"--mount=type=secret,id={sid},target={spec.SECRET_MOUNTS[sid]}{_owned(uid)}" for sid in ids]
    lines = [f"# step: {step.name}", *_comment(step.script)]
    argv = json.dumps(["sh", "-c", spec.step_script(step)])
    lines.append("RUN " + " ".join(mounts + [argv]) if mounts else f"RUN {argv}")
    return lines


def _copy(step: spec.Copy, uid: int | None = None) -> list[str]:
    chown = f"--chown={uid}:{uid} " if uid is not None else ""
    out = []
    if step.from_stage:
        (path,) = step.paths
        out.append(f"COPY --from={step.from_stage} {chown}{json.dumps([path, step.dest])}")
        return out
    for path in step.paths:
        parent, _, leaf = path.rpartition("/")
        if path == ".":
            dest = step.dest
        elif "*" in leaf:  # a glob within one directory: into that directory
            dest = f"{step.dest}/{parent}/" if parent else f"{step.dest}/"
        else:
            dest = f"{step.dest}/{path.rstrip('/')}"
        out.append(f"COPY {chown}{json.dumps([path, dest])}")
    return out


def _stage(st: spec.Stage) -> list[str]:
    lines = [f"# ---- {st.name} ({st.tier}): {st.doc}"]
    if st.image:
        plat = "--platform=$BUILDPLATFORM " if st.platform == "build" else ""
        lines.append(f"FROM {plat}${{{spec.IMAGE_PARAMS[st.image]}}} AS {st.name}")
    else:
        lines.append(f"FROM {st.parent} AS {st.name}")
    args: list[str] = []
    for _, value in st.env:
        if value.startswith("${") and value[2:-1] not in args:
            args.append(value[2:-1])
    args += [p for p in st.params if p not in args]
    caches = [c for s in st.steps if isinstance(s, spec.Run) for c in s.caches]
    if any(c.toolchain == "go" for c in caches):
        lines.append(f"ARG GO_VERSION={spec.DEFAULT_GO_VERSION}")
    if any(c.toolchain == "node" for c in caches):
        lines.append(f"ARG NODE_MAJOR={spec.node_major(spec.NODE_IMAGE)}")
    if any(c.toolchain for c in caches):
        lines += ["ARG BUILDOS", "ARG BUILDARCH"]
    if st.platform == "target" and not st.image:
        lines += ["ARG TARGETOS", "ARG TARGETARCH"]
    lines += [_arg(a) for a in args]
    if st.env:
        lines.append("ENV " + " \\\n    ".join(f"{k}={v}" for k, v in st.env))
    if st.image or st.workdir != spec.stage(st.parent).workdir:
        lines.append(f"WORKDIR {st.workdir}")
    guarded = st.name not in spec.RUNTIME_STAGES
    uid = spec.step_uid(st.name)
    for step in st.steps:
        if not guarded and isinstance(step, spec.Copy) and step.from_stage:
            # spec.LABEL_GUARD: after the runtime's own steps (their cache ignores the stamp),
            # before it waits for the app stage.
            lines += [_arg(a) for a in spec.LABEL_PARAMS] + _run(spec.LABEL_GUARD, uid)
            guarded = True
        lines += _copy(step, uid) if isinstance(step, spec.Copy) else _run(step, uid)
    if st.name in spec.RUNTIME_STAGES:
        labels = spec.labels("${FLAMENCO_VERSION}", "${FLAMENCO_GIT_HASH}", "${SOURCE_URL}", f"flamenco-{st.name}")
        lines.append("LABEL " + " \\\n      ".join(f'{k}="{v}"' for k, v in labels.items()))
    if st.user:
        lines.append(f"USER {st.user}")
    for port in st.expose:
        lines.append(f"EXPOSE {port}")
    if st.healthcheck:
        lines.append(
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 CMD "
            + json.dumps(["bash", "-c", st.healthcheck])
        )
    if st.entrypoint:
        lines.append(f"ENTRYPOINT {json.dumps(list(st.entrypoint))}")
    return lines


def render() -> str:
    out = [HEADER]
    out += [_arg(p) for p in spec.IMAGE_PARAMS.values()]
    for st in spec.STAGES:
        out += ["", *_stage(st)]
    for name, (src, path) in spec.EXPORTS.items():
        out += ["", f"# ---- {name} (export): {path} of {src}, for --output type=local", f"FROM scratch AS {name}",
                f"COPY --from={src} {json.dumps([path + '/', '/'])}"]
    return "\n".join(out) + "\n"


def render_dockerignore() -> str:
    return (
        "# GENERATED from pipeline/core/spec.py SOURCE_EXCLUDES; BuildKit reads <Dockerfile>.dockerignore.\n"
        + "\n".join(spec.SOURCE_EXCLUDES)
        + "\n"
    )


FILES = {"Dockerfile.dev": render, "Dockerfile.dev.dockerignore": render_dockerignore}
