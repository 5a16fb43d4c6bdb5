"""Flamenco's build as a Dagger module: base -> deps -> build-tools -> app.

The main object, `FlamencoPipeline`, is created once (`create`) from the
settings; every function returns lazy Dagger objects built from the stage spec,
so `dagger call deps terminal` or `dagger call binaries export --path out` work.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import anyio
import dagger
from dagger import Doc, Ignore, dag, function, object_type

from pipeline.ci.commands import CI_RESULT
from pipeline.core import spec
from pipeline.core.errors import BuildFailed, UsageError
from pipeline.core.settings import HOST_OBJECTS, ArgSettings, Settings, SettingsError, load_settings, public_view, setting
from pipeline.core.spec import node_major
from pipeline.core.source_facts import (
    FALLBACK_HASH_LENGTH, REQUIRED_FILES, BuildStamp, hash_from_git_files, parse_go_mod, resolve_stamp,
)
from pipeline.dagger_lane import farm
from pipeline.dagger_lane import report as engine_report
from pipeline.dagger_lane.results import CiResult, TestResult, describe_failure
from pipeline.dagger_lane.stages import StageGraph

OptStr = str | None

# Function caching, engine v0.21.8. A function without a policy is cached for up to
# 7 days on (module source, arguments, parent object) (core/typedef.go: Default ->
# spec.TTL = MaxFunctionCacheTTLSeconds; docs version-0.21.4 extending/modules/
# function-caching.mdx). Calling one function from another in Python is a plain call:
# only the outermost function's policy applies. So every function says what it wants:
# - "never": runs on every call. `ci` (its integration test needs a fresh farm and a
#   red job must rebuild and retest when re-run), `integration_test`, `publish`.
# - "session": shared by the callers of one `dagger call`/`dagger -c`, never replayed
#   by a later one. Everything else: the results are lazy objects or read-outs whose
#   work is cached by the engine's layer cache anyway, so nothing is lost.
# The constructor cannot be annotated in the Python SDK (mod/_resolver.py
# ObjectType.get_constructor builds Constructor(cls) with no cache policy), so
# dagger.json sets "disableDefaultFunctionCaching": true, which turns every Default
# policy, the constructor's included, into PerSession (core/typedef.go
# derivedCachePolicy; core/schema/modulesource.go honours the explicit setting).
# Without it `create` would replay an old git ref resolution for up to 7 days.
CACHE_POLICIES = {
    "ci": "never", "integration_test": "never", "publish": "never",
    **dict.fromkeys(("base", "deps", "build_tools", "app", "binaries", "manager", "worker", "test", "check",
                     "sbom", "build", "plan", "dev"), "session"),
}


def _doc(name: str) -> str:
    """An argument's doc: the setting's own description (pipeline.core.settings)."""
    return setting(name).doc


def _tier_doc(tier: str) -> str:
    """A tier function's `stage` doc: the tier's stages, from the spec ("a, b or c")."""
    names = [s.name for s in spec.STAGES if s.tier == tier]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _default(name: str):
    """An argument's default: the setting's own default (pipeline.core.settings)."""
    return setting(name).default


async def _read(source: dagger.Directory, path: str) -> str | None:
    try:
        return await source.file(path).contents()
    except dagger.QueryError:
        return None


def _first_dagger_error(group: BaseExceptionGroup) -> dagger.DaggerError | None:
    for e in group.exceptions:
        found = _first_dagger_error(e) if isinstance(e, BaseExceptionGroup) else e
        if isinstance(found, dagger.DaggerError):
            return found
    return None


async def _engine_platform() -> str:
    """The engine's own platform (`defaultPlatform`): builder stages run natively there,
    and the Go/yarn cache volume names carry it."""
    return str(await dag.default_platform())


async def _hash_from_dir(source: dagger.Directory) -> str | None:
    files = {".git/HEAD": await _read(source, ".git/HEAD")}
    head = (files[".git/HEAD"] or "").strip()
    if head.startswith("ref: "):
        ref = head[5:].strip()
        files[f".git/{ref}"] = await _read(source, f".git/{ref}")
        files[".git/packed-refs"] = await _read(source, ".git/packed-refs")
    return hash_from_git_files(files.get)


@object_type
class FlamencoPipeline:
    """Builds, tests and packages Flamenco (manager + worker images) through cached stages."""

    source: dagger.Directory
    source_origin: str  # "directory", or "<git url>@<commit>" when built from git
    build_platform: str  # the engine's default platform: builders run natively on it
    ca_cert: dagger.File | None
    go_netrc: dagger.Secret | None
    settings_json: str
    go_version: str
    version: str
    git_hash: str
    release_cycle: str

    @classmethod
    async def create(
        cls,
        source: Annotated[dagger.Directory | None, Doc(_doc("source")), Ignore(list(spec.SOURCE_IGNORE))] = None,
        git_url: Annotated[str, Doc(_doc("git_url"))] = _default("git_url"),
        git_ref: Annotated[str, Doc(_doc("git_ref"))] = _default("git_ref"),
        go_version: Annotated[OptStr, Doc(_doc("go_version"))] = None,
        go_image: Annotated[OptStr, Doc(_doc("go_image"))] = None,
        node_image: Annotated[str, Doc(_doc("node_image"))] = _default("node_image"),
        python_image: Annotated[str, Doc(_doc("python_image"))] = _default("python_image"),
        runtime_image: Annotated[str, Doc(_doc("runtime_image"))] = _default("runtime_image"),
        goproxy: Annotated[OptStr, Doc(_doc("goproxy"))] = None,
        gosumdb: Annotated[OptStr, Doc(_doc("gosumdb"))] = None,
        goprivate: Annotated[OptStr, Doc(_doc("goprivate"))] = None,
        gonosumdb: Annotated[OptStr, Doc(_doc("gonosumdb"))] = None,
        gonoproxy: Annotated[OptStr, Doc(_doc("gonoproxy"))] = None,
        allow_unsafe_go_modules: Annotated[bool, Doc(_doc("allow_unsafe_go_modules"))] = False,
        goflags: Annotated[str, Doc(_doc("goflags"))] = _default("goflags"),
        npm_registry: Annotated[OptStr, Doc(_doc("npm_registry"))] = None,
        ca_cert: Annotated[dagger.File | None, Doc(_doc("ca_cert"))] = None,
        go_netrc: Annotated[dagger.Secret | None, Doc(_doc("go_netrc") + " (e.g. file://$HOME/.netrc)")] = None,
        version: Annotated[OptStr, Doc(_doc("version"))] = None,
        git_hash: Annotated[OptStr, Doc(_doc("git_hash"))] = None,
        release_cycle: Annotated[OptStr, Doc(_doc("release_cycle"))] = None,
        platforms: Annotated[list[str] | None, Doc(_doc("platforms"))] = None,
        registry: Annotated[OptStr, Doc(_doc("registry"))] = None,
        manager_image_name: Annotated[str, Doc(_doc("manager_image_name"))] = _default("manager_image_name"),
        worker_image_name: Annotated[str, Doc(_doc("worker_image_name"))] = _default("worker_image_name"),
        tag: Annotated[OptStr, Doc(_doc("tag"))] = None,
        sbom: Annotated[bool, Doc(_doc("sbom"))] = False,
        step_timeout: Annotated[int, Doc(_doc("step_timeout"))] = _default("step_timeout"),
        gotestsum_version: Annotated[str, Doc(_doc("gotestsum_version"))] = _default("gotestsum_version"),
        staticcheck_version: Annotated[str, Doc(_doc("staticcheck_version"))] = _default("staticcheck_version"),
    ) -> FlamencoPipeline:
        """Validate the settings and resolve what the source says (Go version, version, hash)."""
        # One argument per Settings field (checked at import, below the class): every
        # plain value goes to the settings model, the host objects are used as they are.
        given = {k: v for k, v in locals().items() if k in Settings.model_fields and k not in HOST_OBJECTS}
        settings = load_settings(ArgSettings, **given)
        fallback_hash = git_hash
        origin = "directory"
        if source is None:
            # Resolve the ref once and build exactly that commit, so the stamp, the tree and
            # every cache key agree even when a branch moves during the run.
            sha = await dag.git(settings.git_url).ref(settings.git_ref).commit()
            source = dag.git(settings.git_url).commit(sha).tree()
            fallback_hash = fallback_hash or sha[:FALLBACK_HASH_LENGTH]
            origin = f"{settings.git_url}@{sha}"
        needs_reading = not (go_version and version and release_cycle and fallback_hash)
        if needs_reading:
            for required in REQUIRED_FILES:
                if await _read(source, required) is None:
                    raise UsageError(f"invalid setting source: not a Flamenco source tree, missing {required}; pass the repository root")
            fallback_hash = fallback_hash or await _hash_from_dir(source)
        makefile = None if (version and release_cycle) else await _read(source, "Makefile")
        stamp = resolve_stamp(
            makefile, version=version, git_hash=git_hash, release_cycle=release_cycle, fallback_hash=fallback_hash
        )
        gover = settings.go_version or parse_go_mod(await source.file("go.mod").contents()).toolchain_version
        return cls(
            source=source,
            source_origin=origin,
            build_platform=await _engine_platform(),
            ca_cert=ca_cert,
            go_netrc=go_netrc,
            settings_json=settings.model_dump_json(),
            go_version=gover,
            version=stamp.version,
            git_hash=stamp.git_hash,
            release_cycle=stamp.release_cycle,
        )

    # --- resolution, in one place ------------------------------------------------
    def _settings(self) -> Settings:
        return ArgSettings.model_validate_json(self.settings_json)

    def _stamp(self) -> BuildStamp:
        return BuildStamp(self.version, self.git_hash, self.release_cycle)

    def _graph(self) -> StageGraph:
        s = self._settings()
        from pipeline.core.plan import images as resolved_images

        images = resolved_images(s, self.go_version)
        params: dict[str, str | None] = {p: None for p in spec.PARAMS}
        params |= s.go_module_env()
        params |= {
            "GOFLAGS": s.goflags,
            "NPM_REGISTRY": s.npm_registry,
            "ALLOW_UNSAFE_GO_MODULES": "1" if s.allow_unsafe_go_modules else None,
            "GOTESTSUM_VERSION": s.gotestsum_version,
            "STATICCHECK_VERSION": s.staticcheck_version,
            "FLAMENCO_VERSION": self.version,
            "FLAMENCO_GIT_HASH": self.git_hash,
            "FLAMENCO_RELEASE_CYCLE": self.release_cycle,
        }
        return StageGraph(
            source=self.source,
            images=images,
            params=params,
            toolchains={"go": self.go_version, "node": node_major(s.node_image)},
            build_platform=self.build_platform,
            first_target=s.platforms[0],
            mounts={"extra_ca": self.ca_cert, "go_netrc": self.go_netrc},
            volatile={"STEP_TIMEOUT": str(s.step_timeout)},
        )

    def _platform(self, platform: str | None) -> str:
        platforms = self._settings().platforms
        if platform is None:
            return platforms[0]
        if platform not in platforms:
            raise UsageError(f"invalid argument platform={platform!r}: not among the configured platforms {platforms}; add it with --platforms")
        return platform

    def _stage(self, name: str, tier: str) -> dagger.Container:
        names = [s.name for s in spec.STAGES if s.tier == tier]
        if name not in names:
            raise UsageError(f"invalid argument stage={name!r}: the {tier} tier has {', '.join(names)}")
        return self._graph().container(name)

    # --- the four tiers ---------------------------------------------------------
    @function(cache=CACHE_POLICIES["base"])
    def base(self, stage: Annotated[str, Doc(_tier_doc("base"))] = "go-base") -> dagger.Container:
        """A base image with toolchain settings applied (try `base terminal`)."""
        return self._stage(stage, "base")

    @function(cache=CACHE_POLICIES["deps"])
    def deps(self, stage: Annotated[str, Doc(_tier_doc("deps"))] = "go-deps") -> dagger.Container:
        """Dependencies from go.mod/go.sum or package.json/yarn.lock only."""
        return self._stage(stage, "deps")

    @function(cache=CACHE_POLICIES["build_tools"])
    def build_tools(self, stage: Annotated[str, Doc(_tier_doc("build-tools"))] = "gotestsum") -> dagger.Container:
        """A tool stage (go-base plus one go install), joined only into test or check."""
        return self._stage(stage, "build-tools")

    @function(cache=CACHE_POLICIES["app"])
    def app(self, platform: Annotated[OptStr, Doc("Target platform; default: the first configured")] = None) -> dagger.Container:
        """The Go sources with both binaries in /out/bin: the worker from go-build, the manager with the web app embedded."""
        return self._graph().container("app", self._platform(platform))

    @function(cache=CACHE_POLICIES["binaries"])
    def binaries(self) -> dagger.Directory:
        """flamenco-manager and flamenco-worker for every platform, as <os>-<arch>/<binary>."""
        graph = self._graph()
        out = dag.directory()
        for p in self._settings().platforms:
            out = out.with_directory(p.replace("/", "-"), graph.container("app", p).directory(f"{spec.OUT}/bin"))
        return out

    def _runtime(self, kind: str, platform: str | None) -> dagger.Container:
        ctr = self._graph().container(kind, self._platform(platform))
        labels = spec.labels(self.version, self.git_hash, spec.PARAMS["SOURCE_URL"].default or "", f"flamenco-{kind}")
        for k, v in labels.items():
            ctr = ctr.with_label(k, v)
        return ctr

    @function(cache=CACHE_POLICIES["manager"])
    def manager(self, platform: Annotated[OptStr, Doc("Target platform; default: the first configured")] = None) -> dagger.Container:
        """Flamenco Manager runtime image: non-root, port 8080, OCI labels."""
        return self._runtime("manager", platform)

    @function(cache=CACHE_POLICIES["worker"])
    def worker(self, platform: Annotated[OptStr, Doc("Target platform; default: the first configured")] = None) -> dagger.Container:
        """Flamenco Worker runtime image: non-root, with FFmpeg, OCI labels."""
        return self._runtime("worker", platform)

    # --- verification -------------------------------------------------------------
    def test_container(self) -> dagger.Container:
        return self._graph().container("test")

    @function(cache=CACHE_POLICIES["test"])
    async def test(self) -> TestResult:
        """Run go test (-short) via gotestsum; reports come back even when tests fail."""
        ctr = self.test_container()
        reports = ctr.directory(spec.REPORTS)  # exists even if the exec died first (with_output_dirs)
        try:
            code = int((await reports.file("exit-code").contents()).strip() or "1")
        except (dagger.QueryError, ValueError):  # stopped before writing it (timeout): the exec's own code
            code = await ctr.exit_code() or 1
        return TestResult(reports=reports, exit_code=code)

    @function(cache=CACHE_POLICIES["check"])
    def check(self) -> dagger.Container:
        """go vet, gofmt and staticcheck over the whole source (fails on findings)."""
        return self._graph().container("check")

    # --- packaging ----------------------------------------------------------------
    async def _check_platforms(self) -> None:
        """Refuse platforms the images cannot give: `from` with a platform the image lacks
        resolves to whatever variant the image has, and the container reports that platform
        (core/schema/container.go `from` at v0.21.8: ctr.Platform = the image config's
        platform). Without this, linux/arm64 with a single-arch image ships amd64 twice."""
        s, g = self._settings(), self._graph()
        probes = [(st, p) for st in spec.STAGES if st.image and st.platform == "target" for p in s.platforms]
        got: dict = {}
        errors: list[BaseException] = []

        async def probe(st, p):
            try:
                got[(st.name, p)] = str(await g.image_root(st.name, p).platform())
            except dagger.DaggerError as e:  # e.g. an image that does not resolve: the engine's own error
                errors.append(e)

        async with anyio.create_task_group() as tg:
            for st, p in probes:
                tg.start_soon(probe, st, p)
        if errors:
            raise errors[0]
        for st, p in probes:
            if got[(st.name, p)] != p:
                setting = f"{st.image}_image"
                raise SettingsError(setting, g.images[st.image], f"has no {p} variant (the engine resolved it to "
                                    f"{got[(st.name, p)]} for stage {st.name}); pass a multi-platform image "
                                    f"or drop {p} from --platforms")

    def _image_tarball(self, kind: str) -> dagger.File:
        """OCI tarball of all platforms, named as `publish` would push it (docker load keeps the tag)."""
        from pathlib import Path

        from pipeline.container_scripts import image_names

        variants = [self._runtime(kind, p) for p in self._settings().platforms]
        bare = variants[0].as_tarball(platform_variants=variants[1:])
        # asTarball takes no name (core/schema/container.go at v0.21.8), so the archive's
        # index.json/manifest.json get it afterwards, with a stdlib script on the python image.
        d = "/opt/flamenco-image-names"
        return (
            self._graph().container("python-base")
            .with_new_file(f"{d}/image_names.py", Path(image_names.__file__).read_text())
            .with_mounted_file(f"{d}/in.tar", bare)
            .with_exec(["python3", f"{d}/image_names.py", f"{d}/in.tar", f"{d}/out.tar",
                        self._settings().image_name(kind, self.version)])
            .file(f"{d}/out.tar")
        )

    @function(cache=CACHE_POLICIES["sbom"])
    def sbom(self) -> dagger.Directory:
        """CycloneDX SBOMs of both images (Go modules from the binaries, Debian packages from the images), per platform."""
        graph = self._graph()
        out = dag.directory()
        for p in self._settings().platforms:
            out = out.with_directory(p.replace("/", "-"), graph.container("sbom-build", p).directory(spec.SBOM_DIR))
        return out

    def _artifacts(self, reports: dagger.Directory) -> dagger.Directory:
        dist = (
            dag.directory()
            .with_file("images/flamenco-manager.tar", self._image_tarball("manager"))
            .with_file("images/flamenco-worker.tar", self._image_tarball("worker"))
            .with_directory("bin", self.binaries())
            .with_directory("reports", reports)
        )
        return dist.with_directory("sbom", self.sbom()) if self._settings().sbom else dist

    async def _evaluate(self, targets: dict[str, object]) -> dict:
        """Evaluate stages concurrently and time each (pipeline.dagger_lane.report.evaluate)."""
        return await engine_report.evaluate(targets)

    async def _facts(self, image_sizes: bool = True) -> dict:
        """What the build printed inside and the images' tarball sizes (pipeline.dagger_lane.report.read_facts)."""
        sizes = {kind: self._image_tarball(kind) for kind in spec.RUNTIME_STAGES} if image_sizes else {}
        return await engine_report.read_facts(self._graph(), sizes)

    _test_counts = staticmethod(engine_report.test_counts)

    def _report(self, timings: dict, extra: dict, facts: dict | None = None, wall: float | None = None,
                tests: dict | None = None) -> dict:
        """build-report.json as a dict (schema: pipeline.reports.schema.SCHEMA)."""
        from pipeline.reports.dagger_adapter import dagger_lane_report

        s = self._settings()
        facts = facts or {}
        images = {
            k: {"ref": s.image_name(k, self.version), "size_bytes": facts.get(f"size:{k}"),
                "size_of": "OCI tarball (all platforms)"}
            for k in spec.RUNTIME_STAGES
        }
        view = public_view(s)
        if self.source_origin == "directory":  # the upstream git settings were not used
            view = {k: v for k, v in view.items() if k not in ("git_url", "git_ref")} | {"source": "directory"}
        else:
            view["source"] = self.source_origin
        return dagger_lane_report(
            timings, settings_view=view, stamp=self._stamp(), go_version=self.go_version,
            images=images, go_module_output="\n".join(facts.get(k) or "" for k in ("go-mod", "go-build", "go-deps")),
            base_outputs={k: facts[k] for k in ("go-base", "node-base") if facts.get(k)},
            wall_seconds=wall, extra=extra, tests=tests,
        )

    _with_report = staticmethod(engine_report.with_report)

    def _stage_targets(self) -> dict[str, object]:
        g = self._graph()
        targets: dict[str, object] = {}
        for st in spec.STAGES:
            if st.tier in ("verify",) or (st.name == "sbom-build" and not self._settings().sbom) \
                    or st.name == "worker-blender":  # built only for a farm that asks for it (dev/integration_test)
                continue
            if st.platform == "target":
                for p in self._settings().platforms:
                    targets[f"{st.name}@{p}"] = g.container(st.name, p)
            else:
                targets[st.name] = g.container(st.name)
        return targets

    @function(cache=CACHE_POLICIES["build"])
    async def build(self) -> dagger.Directory:
        """dist/: images/*.tar (OCI, all platforms), bin/, reports/, build-report.json/.md, build-timeline.svg."""
        await self._check_platforms()
        box: dict = {}
        t0 = time.monotonic()

        async def run_test():
            try:
                box["test"] = await self.test()
            except dagger.QueryError as e:  # kept, so the stages finish and the error is one message
                box["test_error"] = describe_failure(e)["message"]

        async def run_stages():
            box["timings"] = await self._evaluate(self._stage_targets())
            box["wall"] = time.monotonic() - t0

        async with anyio.create_task_group() as tg:  # go test and the other stages at once
            tg.start_soon(run_test)
            tg.start_soon(run_stages)
        timings = box["timings"]
        failed = sorted(k for k, v in timings.items() if not v["ok"])
        if failed:
            raise BuildFailed(failed, timings[failed[0]].get("error", ""))
        if "test_error" in box:
            raise BuildFailed(["test"], box["test_error"])
        result = box["test"]
        report = self._report(timings, {"test_exit_code": result.exit_code}, await self._facts(), box["wall"],
                              tests=await self._test_counts(result.reports))
        return self._with_report(self._artifacts(result.reports), report)

    @function(cache=CACHE_POLICIES["publish"])
    async def publish(
        self,
        password: Annotated[dagger.Secret, Doc("Registry password or token (env://VAR or file://PATH)")],
        username: Annotated[str, Doc("Registry user name")],
    ) -> str:
        """Push both images as multi-platform manifests to the configured registry; never cached."""
        s = self._settings()
        if not s.registry:
            raise UsageError("invalid setting registry=None: publish needs a registry; pass --registry registry.example/team")
        await self._check_platforms()
        host = s.registry.split("/")[0]
        refs = []
        for kind in spec.RUNTIME_STAGES:
            variants = [self._runtime(kind, p).with_registry_auth(host, username, password) for p in s.platforms]
            refs.append(await variants[0].publish(s.image_name(kind, self.version), platform_variants=variants[1:]))
        return "\n".join(refs)

    @function(cache=CACHE_POLICIES["ci"])
    async def ci(self) -> CiResult:
        """test + check + build + integration test concurrently; every artifact, the combined
        exit code and dist/ci-result.json (the verdict CI reads). Never cached: each call rebuilds
        what changed, retests and starts a fresh farm."""
        await self._check_platforms()
        outcome: dict[str, str] = {}
        failures: dict[str, dict] = {}
        box: dict = {}
        timings: dict = {}

        def failed(part: str, e: BaseException) -> None:
            failures[part] = f = describe_failure(e)
            outcome[part] = f"failed: {f['message']}"

        async def guarded(part: str, body) -> None:
            # Any engine error (exec, query, transport; also from inside a part's own task
            # group) fails this part only, never the CiResult.
            try:
                await body()
            except dagger.DaggerError as e:
                failed(part, e)
            except BaseExceptionGroup as group:
                if (first := _first_dagger_error(group)) is None:
                    raise
                failed(part, first)

        async def run_test():
            box["test"] = r = await self.test()
            outcome["test"] = "passed" if r.exit_code == 0 else f"failed (go test exit {r.exit_code})"

        async def run_check():
            await self.check().sync()
            outcome["check"] = "passed"

        async def run_build():
            t0 = time.monotonic()
            timings.update(await self._evaluate(self._stage_targets()))
            box["wall"] = time.monotonic() - t0
            bad = sorted(k for k, v in timings.items() if not v["ok"])
            outcome["build"] = "passed" if not bad else f"failed in {', '.join(bad)}: {timings[bad[0]]['error']}"
            if bad:
                failures["build"] = {"step": timings[bad[0]].get("step"), "stage": bad[0],
                                     "message": timings[bad[0]]["error"], "stderr": timings[bad[0]].get("stderr", [])}

        # -- the integration test: manager + workers as services (issue 7) --
        async def run_integration():
            box["integration"] = r = await self.integration_test()
            outcome["integration"] = "passed" if r.exit_code == 0 else "failed (see reports/integration.xml)"
        # -- end integration test --

        parts = {"test": run_test, "check": run_check, "build": run_build, "integration": run_integration}
        async with anyio.create_task_group() as tg:
            for part, body in parts.items():
                tg.start_soon(guarded, part, body)
        code = 0 if all(outcome[k] == "passed" for k in parts) else 1
        summary = "\n".join(f"{k}: {outcome[k]}" for k in parts)
        return CiResult(dist=await self._ci_dist(outcome, failures, timings, box, code), exit_code=code,
                        summary=summary)

    async def _ci_dist(self, outcome: dict, failures: dict, timings: dict, box: dict, code: int) -> dagger.Directory:
        try:
            facts = await self._facts(image_sizes=outcome["build"] == "passed")
        except dagger.DaggerError:
            facts = {}
        unit = box.get("test")
        result = {"exit_code": code, "outcome": outcome, "failures": failures}
        try:
            tests = await self._test_counts(unit.reports) if unit else None
        except dagger.DaggerError:
            tests = None
        report = self._report(timings, {"test_exit_code": unit.exit_code if unit else None, "outcome": outcome,
                                        "failures": failures}, facts, box.get("wall"), tests=tests)
        reports = unit.reports if unit else dag.directory()
        dist = self._artifacts(reports) if outcome["build"] == "passed" else dag.directory().with_directory("reports", reports)
        dist = self._with_report(dist, report).with_new_file(CI_RESULT, json.dumps(result, indent=2))
        if "integration" in box:  # integration.xml + timing next to the unit tests' reports
            dist = dist.with_directory("reports", box["integration"].reports)
        return dist

    @function(cache=CACHE_POLICIES["plan"])
    def plan(self) -> str:
        """The resolved stage plan as JSON (what would run, in which order, with which caches)."""
        from pipeline.core.plan import resolved_plan

        return json.dumps(resolved_plan(self._settings(), self.go_version).as_dict(), indent=2)

    # --- the farm: the manager and N workers as services (pipeline.dagger_lane.farm) -----
    def _farm(self, workers: int, volumes: str, worker_blender: bool = False) -> dagger.Container:
        """The manager container bound to N worker services on the `flamenco-<volumes>-*` volumes."""
        worker = self._runtime("worker-blender", None) if worker_blender else self.worker()
        return farm.bound_manager(self.manager(), worker, farm.check_workers(workers), volumes)

    @function(cache=CACHE_POLICIES["dev"])
    def dev(
        self,
        workers: Annotated[int, Doc("How many workers to start with the manager (1 to 32)")] = 1,
        worker_blender: Annotated[bool, Doc("Workers from the worker-blender image (Debian's Blender on PATH)")] = False,
    ) -> dagger.Service:
        """A local farm: the manager (hostname `manager`, port 8080) with N workers on shared storage.

        `dagger call dev --workers 3 up --ports 8080:8080`, then open http://localhost:8080/.
        The manager's data and the shared storage persist in cache volumes `flamenco-dev-*`.
        """
        return farm.manager_service(self._farm(workers, "dev", worker_blender))

    def _integration_checker(self, workers: int, run: str, worker_blender: bool = False) -> dagger.Container:
        """The checker container bound to a fresh farm (volumes `flamenco-it-<run>-*`), lazy."""
        farm.check_workers(workers)
        return farm.integration_checker(
            self._graph(), python_image=self._settings().python_image, source=self.source, stamp=self._stamp(),
            manager=farm.manager_service(self._farm(workers, f"it-{run}", worker_blender)), workers=workers, run=run,
        )

    @function(cache=CACHE_POLICIES["integration_test"])
    async def integration_test(
        self,
        workers: Annotated[int, Doc("How many workers must register and sign on (1 to 32)")] = 3,
        worker_blender: Annotated[bool, Doc("Workers from the worker-blender image (Debian's Blender on PATH)")] = False,
    ) -> TestResult:
        """Start the built manager and N workers as services and check them (JUnit in reports/integration.xml).

        Checks: the manager becomes healthy, /api/v3/version reports the built version, hash and extended version,
        the served OpenAPI document is valid and matches pkg/api/flamenco-openapi.yaml, the manager
        is configured (no setup assistant), every worker signs on, one echo-sleep-test job per
        worker completes with its tasks spread over the workers and the echo in its task log, the
        database exists with its migrations applied, /app/ serves HTML. Never cached.
        """
        import uuid

        ctr = self._integration_checker(workers, uuid.uuid4().hex[:12], worker_blender)
        code = await ctr.exit_code()
        return TestResult(reports=ctr.directory(f"{spec.CHECKER_DIR}/reports"), exit_code=code)


def _check_constructor_matches_settings() -> None:
    """`create` takes exactly the Settings fields, so the CLI (which passes every field)
    and `dagger call` can never drift apart again. Runs at import: a mismatch fails
    module loading and every test, not a user's first command."""
    import inspect

    params = set(inspect.signature(FlamencoPipeline.create).parameters)
    fields = set(Settings.model_fields)
    if params != fields:
        raise TypeError(
            "FlamencoPipeline.create() and pipeline.core.settings.Settings disagree on "
            f"{sorted(params ^ fields)}; add the argument or the setting"
        )


_check_constructor_matches_settings()
