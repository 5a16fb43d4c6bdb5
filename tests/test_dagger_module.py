"""The Dagger module, driven in-process through the real SDK (no engine).

Assertions read the query chain the SDK would send: env, mounts, copies, execs.
Where a script's behaviour matters (ldflags), the exact script is executed with
`sh` against a recording stand-in for `go`.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from pipeline.core import spec
from tests.conftest import STAMP, make_pipeline
from tests.querychain import calls, chain, env, exec_env, sources_copied

GO_VARS = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY")


def _download_exec(ctr):
    """The exec that runs `go mod download`, with its env and mounts."""
    found = [e for e in exec_env(ctr) if "go mod download" in e[0][-1]]
    assert len(found) == 1
    return found[0]


def test_default_go_module_settings_are_the_toolchain_defaults(pipeline):
    argv, e, _ = _download_exec(pipeline.deps("go-deps"))
    assert not any(v in e for v in GO_VARS), "unset vars must keep the Go toolchain defaults"
    assert e["GOFLAGS"] == "-mod=readonly"
    assert e["GOTOOLCHAIN"] == "auto"
    assert "go mod verify" not in argv[-1], "verify is off the images' path (its own stage)"
    (verify,) = [a for a, _, _ in exec_env(pipeline._graph().container("go-verify")) if "go mod verify" in a[-1]]


def test_user_go_module_override_reaches_the_deps_stage():
    p = make_pipeline(goproxy="https://goproxy.corp.example,direct", goprivate="corp.example/*",
                      gonosumdb="corp.example/*")
    _, e, _ = _download_exec(p.deps("go-deps"))
    assert e["GOPROXY"] == "https://goproxy.corp.example,direct"
    assert e["GOPRIVATE"] == "corp.example/*"
    assert e["GONOSUMDB"] == "corp.example/*"
    assert "GOSUMDB" not in e


def test_unsafe_go_settings_are_refused_before_any_container():
    from pipeline.core.settings import SettingsError

    with pytest.raises(SettingsError, match="goproxy"):
        make_pipeline(goproxy="direct")
    with pytest.raises(SettingsError, match="gosumdb"):
        make_pipeline(gosumdb="off")
    p = make_pipeline(goproxy="direct", gosumdb="off", allow_unsafe_go_modules=True)
    _, e, _ = _download_exec(p.deps("go-deps"))
    assert e["GOPROXY"] == "direct" and e["GOSUMDB"] == "off" and e["ALLOW_UNSAFE_GO_MODULES"] == "1"


@pytest.mark.parametrize("fn,arg", [("deps", "go-deps"), ("deps", "web-deps"), ("build_tools", "gotestsum"),
                                    ("build_tools", "staticcheck"), ("app", None), ("test_container", None)])
def test_every_cache_is_mounted_where_the_tool_looks(pipeline, fn, arg):
    ctr = getattr(pipeline, fn)(arg) if arg else getattr(pipeline, fn)()
    tool_path_var = {c.path: var for var, c in (("GOMODCACHE", spec.GOMODCACHE), ("GOCACHE", spec.GOCACHE),
                                                  ("YARN_CACHE_FOLDER", spec.YARN_CACHE))}
    seen = 0
    for _argv, e, mounts in exec_env(ctr):
        for path, key in mounts.items():
            if key == "file":
                continue
            seen += 1
            var = tool_path_var[path]
            assert e[var] == path, f"{var} points at {e.get(var)}, cache mounted at {path}"
            assert key.startswith("flamenco-")
    assert seen, "no cache mounted at all"


def test_cache_volume_names_separate_toolchains_and_platforms():
    a = make_pipeline(go_version="1.25.5", platforms=["linux/amd64", "linux/arm64"])
    b = make_pipeline(go_version="1.26.2")
    keys_a = {k for _, _, m in exec_env(a.build_tools()) for k in m.values()}
    keys_b = {k for _, _, m in exec_env(b.build_tools()) for k in m.values()}
    assert any("1.25.5" in k for k in keys_a) and not any("1.25.5" in k for k in keys_b)
    assert f"flamenco-gomod-uid{spec.BUILD_UID}" in keys_a & keys_b, "the module cache is content-addressed and shared"
    assert all("linux-amd64" in k for k in keys_a if "gobuild" in k)


def test_deps_stages_copy_only_manifests(pipeline):
    assert sources_copied(pipeline.deps("go-mod")) == ["go.mod", "go.sum"]
    # every module, after go-build (its constant marker): go-build fetched the binaries' own
    assert sources_copied(pipeline.deps("go-deps")) == ["go.mod", "go.sum", spec.GO_CACHE_FILLED]
    assert sources_copied(pipeline.deps("web-deps")) == ["web/app/package.json", "web/app/yarn.lock"]
    for tool in ("gotestsum", "staticcheck"):  # `go install module@version`: nothing from the source,
        # only go-build's constant marker (so they compile after it, and stay cached when it re-runs)
        assert sources_copied(pipeline.build_tools(tool)) == [spec.GO_CACHE_FILLED], tool


def test_go_stages_copy_only_go_sources_and_embeds(pipeline):
    """go-source copies GO_SOURCES (no web/app, addon, docs, magefiles); check adds only the gofmt-only files."""
    go_source = pipeline._graph().container("go-source")
    assert sources_copied(go_source) == ["go.mod", "go.sum", "cmd/", "internal/", "pkg/", "web", "web/static/emptyfile"]
    (glob,) = [c for c in calls(go_source, "withDirectory") if c.args["path"] == f"{spec.SRC}/web"]
    assert glob.args["include"] == ["*.go"]
    assert {"mage.go", "magefiles/"} <= set(sources_copied(pipeline.check()))
    for ctr in (pipeline.app(), pipeline.test_container(), pipeline.check()):
        assert not [c for c in calls(ctr, "withDirectory") if c.args["path"] == spec.SRC], "no whole-tree copy"


def test_source_excludes_vcs_and_installed_dependencies(pipeline):
    (internal,) = [c for c in calls(pipeline.app(), "withDirectory") if c.args["path"] == f"{spec.SRC}/internal"]
    (filt,) = [c for c in chain(internal.args["source"]) if c.name == "filter"]
    assert {".git", "**/node_modules"} <= set(filt.args["exclude"])


def _fake_go(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "list -m" ]; then echo example.com/flamenco-mini; exit 0; fi\n'
        'if [ "$1" = build ]; then printf "%s\\n" "$@" >> "$RECORD"; echo "--" >> "$RECORD"\n'
        # like go: `-o DIR/` writes each main package's binary into DIR
        '  o=""; prev=""; for a in "$@"; do [ "$prev" = -o ] && o="$a"; prev="$a"; done\n'
        '  case "$o" in */) for a in "$@"; do case "$a" in ./cmd/*) : > "$o${a#./cmd/}";; esac; done;; esac\n'
        'fi\n'
    )
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_ldflags_carry_version_hash_and_release_cycle(pipeline, tmp_path):
    """Run go-build's and app's exact build scripts with their exact env against a recording `go`."""
    builds = [x for x in exec_env(pipeline.app()) if "go build" in x[0][-1]]
    assert len(builds) == 2, "go-build (both binaries), then app (the manager, with the web app)"
    built = []
    for n, (argv, e, _) in enumerate(builds):
        record = tmp_path / f"go-args-{n}"
        (tmp_path / str(n)).mkdir()
        run_env = {**e, "PATH": f"{_fake_go(tmp_path / str(n))}:{os.environ['PATH']}", "RECORD": str(record)}
        script = argv[-1].replace("/out/", f"{tmp_path}/out/")
        subprocess.run(argv[:-1] + [script], env=run_env, check=True, cwd=tmp_path, capture_output=True)
        invocations = [block.strip().splitlines() for block in record.read_text().split("--\n") if block.strip()]
        (args,) = [a for a in invocations if any(x.startswith("./cmd/") for x in a)]  # the binary's own build
        ldflags = next(a for a in args if a.startswith("-ldflags="))
        pkg = "example.com/flamenco-mini/internal/appinfo"
        assert f"-X {pkg}.ApplicationVersion={STAMP['version']}" in ldflags
        assert f"-X {pkg}.ApplicationGitHash={STAMP['git_hash']}" in ldflags
        assert f"-X {pkg}.ReleaseCycle={STAMP['release_cycle']}" in ldflags
        built += [a for a in args if a.startswith("./cmd/")]
        assert e["CGO_ENABLED"] == "0" and e["TARGETARCH"] == "amd64"
    # go-build links both (the manager only to fill the Go build cache), app the manager again
    assert built == ["./cmd/flamenco-worker", "./cmd/flamenco-manager", "./cmd/flamenco-manager"]


def test_tools_wait_for_the_go_build_of_the_first_target_platform():
    """The marker the tools and go-deps copy comes from the go-build the images use, not an extra one."""
    p = make_pipeline(platforms=["linux/arm64", "linux/amd64"])
    for tool, ctr in (("gotestsum", p.build_tools("gotestsum")), ("staticcheck", p.build_tools("staticcheck")),
                      ("go-deps", p.deps("go-deps"))):
        (marker,) = [c for c in calls(ctr, "withFile") if c.args["path"] == spec.GO_CACHE_FILLED]
        arch = [c.args["value"] for c in chain(marker.args["source"])
                if c.name == "withEnvVariable" and c.args["name"] == "TARGETARCH"]
        assert arch == ["arm64"], (tool, arch)


def test_cross_compiles_on_the_build_platform():
    p = make_pipeline(platforms=["linux/amd64", "linux/arm64"])
    arm = p.app("linux/arm64")
    froms = calls(arm, "from")
    assert calls(arm, "container")[0].args == {}, "the builder runs natively, no emulation"
    assert env(arm)["TARGETARCH"] == "arm64" and froms[0].args["address"].startswith("golang:")
    worker = p.worker("linux/arm64")
    assert calls(worker, "container")[0].args["platform"] == "linux/arm64"


@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_runtime_images_do_not_run_as_root(pipeline, kind):
    ctr = getattr(pipeline, kind)()
    users = [c.args["name"] for c in calls(ctr, "withUser")]
    assert users and users[-1] not in ("root", "0", "")
    labels = {c.args["name"]: c.args["value"] for c in calls(ctr, "withLabel")}
    assert labels["org.opencontainers.image.version"] == STAMP["version"]
    assert labels["org.opencontainers.image.revision"] == STAMP["git_hash"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert calls(ctr, "withEntrypoint")[-1].args["args"][0].endswith(f"flamenco-{kind}")
    assert not calls(ctr, "withMountedFile"), "no secret/CA mount may remain in a runtime image"


def test_manager_exposes_8080_and_worker_has_ffmpeg(pipeline):
    assert [c.args["port"] for c in calls(pipeline.manager(), "withExposedPort")] == [8080]
    assert any("ffmpeg" in a[-1] for a in [c.args["args"] for c in calls(pipeline.worker(), "withExec")])


def test_test_uses_a_non_failing_exec_and_collects_reports(pipeline):
    import dagger

    ctr = pipeline.test_container()
    (test_exec,) = [c for c in calls(ctr, "withExec") if "gotestsum --junitfile" in c.args["args"][-1]]
    assert test_exec.args["expect"] == dagger.ReturnType.ANY.value
    reports = ctr.directory(spec.REPORTS)
    assert chain(reports)[-1].name == "directory" and chain(reports)[-1].args["path"] == spec.REPORTS


def test_extra_ca_is_mounted_for_network_steps_only():
    from dagger import dag

    p = make_pipeline(ca_cert=dag.host().file("/etc/ssl/certs/ca-certificates.crt"))
    for argv, _e, mounts in exec_env(p.worker()):
        network = "apt-get" in argv[-1]
        assert (spec.CA_SECRET_PATH in mounts) == network
    for argv, _e, mounts in exec_env(p.deps("go-deps")):
        if "go mod download" in argv[-1]:
            assert mounts[spec.CA_SECRET_PATH] == "file"


def test_bad_stage_or_platform_argument_is_one_clear_line(pipeline):
    with pytest.raises(ValueError, match="the deps tier has go-mod, web-deps, go-deps, go-verify"):
        pipeline.deps("yarn")
    with pytest.raises(ValueError, match="--platforms"):
        pipeline.manager("linux/arm64")


def test_binaries_cover_every_platform():
    p = make_pipeline(platforms=["linux/amd64", "linux/arm64"])
    dirs = [c.args["path"] for c in calls(p.binaries(), "withDirectory")]
    assert dirs == ["linux-amd64", "linux-arm64"]


def test_go_netrc_is_a_secret_mounted_only_for_go_steps():
    from dagger import dag

    netrc = dag.set_secret("go-netrc", "machine git.corp.example login ci password canary-netrc-0451")
    p = make_pipeline(go_netrc=netrc)
    go_steps = 0
    for fn in (lambda: p.deps("go-deps"), p.build_tools, p.app, p.test_container, p.check):
        for argv, e, mounts in exec_env(fn()):
            if "go " in argv[-1] and "go version" not in argv[-1]:
                assert mounts.get(spec.NETRC_PATH) == "secret", argv[-1][:80]
                go_steps += 1
            assert not any("canary-netrc" in v for v in e.values())
    assert go_steps >= 5
    for kind in ("manager", "worker"):
        ctr = getattr(p, kind)()
        assert not calls(ctr, "withMountedSecret") or all(
            c.args["path"] != spec.NETRC_PATH for c in calls(ctr, "withMountedSecret")), kind
        assert all(m != spec.NETRC_PATH for _, _, ms in exec_env(ctr) for m in ms)
    yarn = exec_env(p.deps("web-deps"))
    assert all(spec.NETRC_PATH not in ms for _, _, ms in yarn), "only Go steps see the netrc"


def test_sbom_is_built_only_when_asked():
    off = make_pipeline()
    on = make_pipeline(sbom=True)
    assert not any(k.startswith("sbom-build") for k in off._stage_targets())
    assert "sbom-build@linux/amd64" in on._stage_targets()
    ctr = on._graph().container("sbom-build", "linux/amd64")
    froms = [c.args["path"] for c in calls(ctr, "withFile") + calls(ctr, "withDirectory")]
    assert "/sbom-in/manager.dpkg" in froms and "/sbom-in/worker.dpkg" in froms


def _users_at_execs(ctr):
    """(argv, user in effect) for every exec of a container's own chain."""
    user, out = "", []
    for c in chain(ctr):
        if c.name == "withUser":
            user = c.args["name"]
        elif c.name == "withExec":
            out.append((c.args["args"], user))
    return out


@pytest.mark.parametrize("fn", ["test_container", "check", "app"])
def test_go_steps_run_as_the_non_root_build_user(pipeline, fn):
    """Flamenco's TestCheckSharedStoragePath refuses root: every Go step runs as the build user,
    its caches and secret mounts owned by it, in volumes whose ids name that user."""
    ctr = getattr(pipeline, fn)()
    go_execs = [(a, u) for a, u in _users_at_execs(ctr) if "go " in a[-1] and "go version" not in a[-1]]
    assert go_execs and all(u == spec.BUILD_USER for _, u in go_execs), [u for _, u in go_execs]
    owned = [c for c in calls(ctr, "withMountedCache") if "go" in c.args["path"] or "go-build" in c.args["path"]]
    assert owned and all(c.args["owner"] == f"{spec.BUILD_UID}:{spec.BUILD_UID}" for c in owned)
    keys = {k for _, _, m in exec_env(ctr) for p, k in m.items() if p in (spec.GOMODCACHE.path, spec.GOCACHE.path)}
    assert keys and all(k.endswith(f"-uid{spec.BUILD_UID}") for k in keys), keys


def test_cache_ids_separate_users_and_toolchains():
    c = spec.GOCACHE
    ids = {c.volume_id({"go": v}, "linux/amd64", uid) for v in ("1.25.5", "1.26.2") for uid in (None, spec.BUILD_UID)}
    assert len(ids) == 4, "no two (toolchain, user) pairs share a build cache"
    assert spec.GOMODCACHE.volume_id({}, "linux/amd64", spec.BUILD_UID) != spec.GOMODCACHE.volume_id({}, "linux/amd64")
    # every step that mounts a Go cache runs as the build user; yarn's runs as root (plan prints these ids)
    assert spec.cache_uid(spec.GOCACHE) == spec.cache_uid(spec.GOMODCACHE) == spec.BUILD_UID
    assert spec.cache_uid(spec.YARN_CACHE) is None


def _closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for d in spec.dependencies(todo.pop()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_images_wait_only_for_what_go_build_needs():
    """Issue 11: tools and `go mod verify` are off the images' path; test/check never wait for the web app."""
    go_chain = {"go-build", "go-source", "go-mod", "go-base"}
    assert _closure("manager") == go_chain | {"app", "webapp", "web-deps", "node-base", "addon", "python-base"}
    assert _closure("worker") == go_chain, "the worker embeds no web app, so it never waits for one"
    for tool in ("gotestsum", "staticcheck"):  # after go-build's packages are in the Go build cache
        assert _closure(tool) == go_chain
    assert _closure("go-deps") == go_chain, "every module, fetched after go-build's compile"
    assert {"gotestsum", "go-deps", "go-verify"} <= _closure("test") and not {"webapp", "addon", "app"} & _closure("test")
    assert {"staticcheck", "go-deps"} <= _closure("check") and not {"webapp", "addon", "app"} & _closure("check")
    assert not any(s.name == "mage" or "mage" in s.doc.split() for s in spec.STAGES), "nothing runs mage"


def test_reports_carry_go_mod_verify(pipeline):
    """The test reports depend on go-verify (copied in after go test), so `test`/`ci` fail if it does."""
    (copy,) = [c for c in calls(pipeline.test_container(), "withFile") if c.args["path"].endswith("go-mod-verify.txt")]
    assert copy.args["path"] == f"{spec.REPORTS}/go-mod-verify.txt"


@pytest.mark.parametrize("rc", [0, 1])
def test_go_verify_step_fails_when_go_mod_verify_does(pipeline, tmp_path, rc):
    """The exact go-verify script against a stand-in `go`: its exit code is verify's, not a pipe's."""
    (argv,) = [a for a, _, _ in exec_env(pipeline._graph().container("go-verify")) if "go mod verify" in a[-1]]
    fake = tmp_path / "go"
    fake.write_text(f"#!/bin/sh\necho 'all modules verified'\nexit {rc}\n")
    fake.chmod(0o755)
    script = argv[-1].replace(spec.OUT, f"{tmp_path}/out")
    proc = subprocess.run(argv[:-1] + [script], env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          capture_output=True, text=True)
    assert proc.returncode == rc
    assert (tmp_path / "out" / "go-mod-verify.txt").read_text().strip() == "all modules verified"


def test_a_stage_used_before_it_is_defined_is_refused():
    """Dockerfile COPY --from=x names a stage only if x is defined above; a later x is an image name."""
    later = spec.Stage("b", "deps", "b", image="go")
    early = spec.Stage("a", "deps", "a", image="go", steps=(spec.Copy(("/x",), dest="/x", from_stage="b"),))
    with pytest.raises(ValueError, match="stage a uses b, defined after it"):
        spec.check_stage_order((early, later))
    spec.check_stage_order((later, early))
    spec.check_stage_order(spec.STAGES)
