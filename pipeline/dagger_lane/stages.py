"""Turns the stage spec (:mod:`pipeline.core.spec`) into lazy Dagger containers.

One generic translation, no per-stage code: what a stage does lives in the spec,
so the Dagger lane and `Dockerfile.dev` cannot drift apart. Every method returns
lazy objects; nothing here talks to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagger
from dagger import dag

from pipeline.core import spec

_SHARING = {
    "shared": dagger.CacheSharingMode.SHARED,
    "locked": dagger.CacheSharingMode.LOCKED,
    "private": dagger.CacheSharingMode.PRIVATE,
}


def platform_env(platform: str) -> dict[str, str]:
    """What BuildKit gives a Dockerfile as TARGETOS/TARGETARCH, for one platform."""
    os_, arch = platform.split("/")[:2]
    return {"TARGETPLATFORM": platform, "TARGETOS": os_, "TARGETARCH": arch}


# --- small reusable steps, applied with Container.with_(...) -----------------
def with_env(env: dict[str, str]):
    def step(ctr: dagger.Container) -> dagger.Container:
        for k, v in env.items():
            ctr = ctr.with_env_variable(k, v)
        return ctr

    return step


def owner(uid: int | None) -> str:
    """Dagger's `owner` argument for a non-root step user ("" keeps root)."""
    return f"{uid}:{uid}" if uid is not None else ""


def with_caches(caches: tuple[spec.Cache, ...], toolchains: dict[str, str], build_platform: str,
                uid: int | None = None):
    """Cache volumes for one step; a non-root step user owns its own volumes (ids carry the uid)."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for c in caches:
            ctr = ctr.with_mounted_cache(
                c.path, dag.cache_volume(c.volume_id(toolchains, build_platform, uid)),
                sharing=_SHARING[c.sharing], owner=owner(uid),
            )
        return ctr

    return step


def without_caches(caches: tuple[spec.Cache, ...]):
    def step(ctr: dagger.Container) -> dagger.Container:
        for c in caches:
            ctr = ctr.without_mount(c.path)
        return ctr

    return step


def with_step_mounts(ids: tuple[str, ...], mounts: dict[str, dagger.File | dagger.Secret], uid: int | None = None):
    """Mount the optional CA bundle / netrc for one step (readable by its user); never in a layer."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for sid in ids:
            obj = mounts.get(sid)
            if isinstance(obj, dagger.Secret):
                ctr = ctr.with_mounted_secret(spec.SECRET_MOUNTS[sid], obj, owner=owner(uid))
            elif obj is not None:
                ctr = ctr.with_mounted_file(spec.SECRET_MOUNTS[sid], obj, owner=owner(uid))
        return ctr

    return step


def without_step_mounts(ids: tuple[str, ...], mounts: dict[str, dagger.File | dagger.Secret]):
    def step(ctr: dagger.Container) -> dagger.Container:
        for sid in ids:
            if mounts.get(sid) is not None:
                ctr = ctr.without_mount(spec.SECRET_MOUNTS[sid])
        return ctr

    return step


def with_output_dirs(paths: tuple[str, ...]):
    """Create a stage's output directories before its exec: when the exec dies early (a
    timeout, a crash before `mkdir`), reading them still works and what was written comes back."""

    def step(ctr: dagger.Container) -> dagger.Container:
        for path in paths:
            ctr = ctr.with_directory(path, dag.directory())
        return ctr

    return step


def with_run(run: spec.Run, *, mounts: dict, toolchains: dict[str, str], build_platform: str,
             outputs: tuple[str, ...] = (), uid: int | None = None):
    """One spec Run step: caches and secret mounts for the step only (owned by its user), then `sh -c`.

    A keep-going step (its exit code is a report) gets its stage's output directories first.
    """

    def step(ctr: dagger.Container) -> dagger.Container:
        if run.keep_going:
            ctr = ctr.with_(with_output_dirs(outputs))
        ctr = ctr.with_(with_caches(run.caches, toolchains, build_platform, uid))
        ctr = ctr.with_(with_step_mounts(run.mounts, mounts, uid))
        ctr = ctr.with_exec(
            ["sh", "-c", spec.step_script(run)],
            expect=dagger.ReturnType.ANY if run.keep_going else dagger.ReturnType.SUCCESS,
        )
        ctr = ctr.with_(without_step_mounts(run.mounts, mounts))
        return ctr.with_(without_caches(run.caches))

    return step


@dataclass
class StageGraph:
    """The resolved inputs of one pipeline run, and the containers they make."""

    source: dagger.Directory
    images: dict[str, str]  # image key (go/node/python/runtime) -> reference
    params: dict[str, str | None]  # spec.PARAMS name -> value (None = unset)
    toolchains: dict[str, str]  # "go"/"node" -> version, for cache volume ids
    build_platform: str  # the engine's default platform (FlamencoPipeline.create)
    # The platform of the target stages that build-platform stages copy from (the tools wait
    # for go-build's marker): the first of --platforms, so no extra go-build runs for it.
    first_target: str | None = None
    mounts: dict = field(default_factory=dict)  # SECRET_MOUNTS id -> dagger.File / dagger.Secret
    # Run-time-only values (STEP_TIMEOUT): seen by every exec, yet in no cache key and in no
    # image config. `withVolatileVariable` (engine v0.21.8, core/schema/container.go) is made for
    # this: "without invalidating exec cache when only its value changes", "not persisted into
    # the container image config" (docs version-0.21.4 cookbook/containers.mdx).
    volatile: dict[str, str] = field(default_factory=dict)
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        # What no stage may see: VCS data, build outputs, installed dependencies.
        self.source = self.source.filter(exclude=list(spec.SOURCE_EXCLUDES))

    def container(self, name: str, platform: str | None = None) -> dagger.Container:
        """The container at the end of stage `name` (for target-platform stages, of `platform`)."""
        st = spec.stage(name)
        key = (name, platform if st.platform == "target" else None)
        if key not in self._memo:
            self._memo[key] = self._build(st, key[1])
        return self._memo[key]

    def _expand(self, value: str) -> str | None:
        if value.startswith("${") and value.endswith("}"):
            return self.params.get(value[2:-1])
        return value

    def image_root(self, name: str, platform: str | None = None) -> dagger.Container:
        """The `from` that an image-based stage starts with (same query as in the stage)."""
        st = spec.stage(name)
        kw = {"platform": dagger.Platform(platform)} if platform and st.platform == "target" else {}
        return dag.container(**kw).from_(self.images[st.image])

    def with_volatile(self, ctr: dagger.Container) -> dagger.Container:
        for k, v in self.volatile.items():
            ctr = ctr.with_volatile_variable(k, v)
        return ctr

    def _build(self, st: spec.Stage, platform: str | None) -> dagger.Container:
        if st.image:
            ctr = self.with_volatile(self.image_root(st.name, platform))
        else:
            ctr = self.container(st.parent, platform)
        env = {k: v for k, raw in st.env if (v := self._expand(raw))}
        env |= {p: v for p in st.params if (v := self.params.get(p))}
        if st.platform == "target" and platform and not st.image:
            env |= platform_env(platform)
        ctr = ctr.with_(with_env(env)).with_workdir(st.workdir)
        uid = spec.step_uid(st.name)
        for step in st.steps:
            if isinstance(step, spec.Copy):
                ctr = self._copy(ctr, step, platform, owner(uid))
            else:
                ctr = ctr.with_(
                    with_run(step, mounts=self.mounts, toolchains=self.toolchains, build_platform=self.build_platform,
                             outputs=st.outputs, uid=uid)
                )
        if st.user:
            ctr = ctr.with_user(st.user)
        if st.entrypoint:
            ctr = ctr.with_entrypoint(list(st.entrypoint))
        for port in st.expose:
            ctr = ctr.with_exposed_port(port)
        return ctr

    def _copy(self, ctr: dagger.Container, step: spec.Copy, platform: str | None, own: str = "") -> dagger.Container:
        """A Copy step; `own` ("uid:gid" or "") owns what lands, like Dockerfile COPY --chown."""
        if step.from_stage:
            (path,) = step.paths
            if platform is None and spec.stage(step.from_stage).platform == "target":
                platform = self.first_target or self.build_platform
            other = self.container(step.from_stage, platform)
            if path.endswith("/"):
                return ctr.with_directory(step.dest, other.directory(path), owner=own)
            return ctr.with_file(step.dest, other.file(path), owner=own)
        for path in step.paths:
            parent, _, leaf = path.rpartition("/")
            if path == ".":
                ctr = ctr.with_directory(step.dest, self.source, owner=own)
            elif path.endswith("/"):
                ctr = ctr.with_directory(f"{step.dest}/{path.rstrip('/')}", self.source.directory(path), owner=own)
            elif "*" in leaf:  # a glob within one directory, as Dockerfile COPY matches it
                ctr = ctr.with_directory(f"{step.dest}/{parent}" if parent else step.dest,
                                         self.source.directory(parent or "."), include=[leaf], owner=own)
            else:
                ctr = ctr.with_file(f"{step.dest}/{path}", self.source.file(path), owner=own)
        return ctr
