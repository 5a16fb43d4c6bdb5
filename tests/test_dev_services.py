"""`dev` and `integration_test`: the farm as Dagger services, read from the query chain (no engine).

What these show: hostnames, the port, which services are bound to which, the shared
cache volume at the same path everywhere, the worker count and the checker's
command line. What they cannot show (needs an engine): that the services start,
that a hostname set with `Service.with_hostname` resolves from the workers, and
`exit_code()`; the container lane runs the same checks against the same images
through compose (tests/container_lane/test_integration.py).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from pipeline.core import farm_config, spec
from pipeline.container_scripts import integration
from tests.conftest import answer_platforms, ROOT, STAMP, make_pipeline
from tests.querychain import cache_key, calls, chain

OWNER = f"{spec.RUNTIME_UID}:{spec.RUNTIME_UID}"


def mounts(obj) -> dict[str, tuple[str, str]]:
    """Cache mounts at the end of a container/service chain: path -> (volume key, owner)."""
    return {c.args["path"]: (cache_key(c.args["cache"]), c.args.get("owner", ""))
            for c in calls(obj, "withMountedCache")}


def bindings(obj) -> dict:
    """alias -> bound Service, in binding order."""
    return {c.args["alias"]: c.args["service"] for c in calls(obj, "withServiceBinding")}


def hostname(service) -> str:
    last = chain(service)[-1]
    assert (last.type, last.name) == ("Service", "withHostname")
    return last.args["hostname"]


def as_service(service) -> dict:
    (c,) = calls(service, "asService")
    return c.args


def entrypoint(obj) -> list[str]:
    return calls(obj, "withEntrypoint")[-1].args["args"]


# --------------------------------------------------------------------------- #
# dev


def test_dev_is_the_manager_on_8080_with_hostname_manager(pipeline):
    svc = pipeline.dev()
    assert hostname(svc) == spec.MANAGER_HOSTNAME == "manager"
    assert as_service(svc) == {"args": farm_config.start_command("manager")}, "writes its config, then execs"
    assert farm_config.start_command("manager")[-1].endswith(f"exec {spec.APP_DIR}/flamenco-manager")
    assert entrypoint(svc) == [f"{spec.APP_DIR}/flamenco-manager"], "the image itself is unchanged"
    envs = {c.args["name"]: c.args["value"] for c in calls(svc, "withEnvVariable")}
    assert envs["FLAMENCO_MANAGER_YAML"] == farm_config.manager_yaml()
    assert [c.args["port"] for c in calls(svc, "withExposedPort")] == [spec.MANAGER_PORT] == [8080]
    assert (urlsplit(spec.MANAGER_URL).hostname, urlsplit(spec.MANAGER_URL).port) == ("manager", 8080)


@pytest.mark.parametrize("workers", [1, 3, spec.MAX_FARM_WORKERS])
def test_dev_binds_exactly_n_distinct_workers(pipeline, workers):
    bound = bindings(pipeline.dev(workers))
    names = [spec.worker_hostname(n) for n in range(1, workers + 1)]
    assert list(bound) == names
    for alias, svc in bound.items():
        assert hostname(svc) == alias
        assert entrypoint(svc) == [f"{spec.APP_DIR}/flamenco-worker"]
        envs = {c.args["name"]: c.args["value"] for c in calls(svc, "withEnvVariable")}
        assert envs["FLAMENCO_WORKER_NAME"] == alias
    # Identical service definitions would be merged into one by the engine.
    definitions = {json.dumps([(c.name, repr(sorted(c.args.items()))) for c in chain(s)]) for s in bound.values()}
    assert len(definitions) == workers


def test_workers_reach_the_manager_by_hostname_without_a_binding_cycle(pipeline):
    from pipeline.dagger_lane.farm import wait_for_manager

    for svc in bindings(pipeline.dev(3)).values():
        wait = wait_for_manager(spec.MANAGER_HOSTNAME, spec.MANAGER_PORT)
        assert as_service(svc) == {"args": ["bash", "-c", f"{wait}\n{farm_config.start_script('worker')}"]}, (
            "waits for the manager, then writes its config and starts")
        envs = {c.args["name"]: c.args["value"] for c in calls(svc, "withEnvVariable")}
        assert envs["FLAMENCO_WORKER_YAML"] == farm_config.worker_yaml(), "manager_url comes from the config"
        assert f'manager_url: "{spec.MANAGER_URL}"' in envs["FLAMENCO_WORKER_YAML"]
        assert urlsplit(spec.MANAGER_URL).hostname == spec.MANAGER_HOSTNAME
        assert not calls(svc, "withServiceBinding"), "a worker bound to the manager would be a cycle"


def test_worker_blender_farm_uses_the_blender_worker_stage(pipeline):
    plain = bindings(pipeline.dev(2))["worker-1"]
    blender = bindings(pipeline.dev(2, worker_blender=True))["worker-1"]
    installs = lambda svc: [c.args["args"][-1] for c in calls(svc, "withExec")]  # noqa: E731
    assert not any("blender" in x for x in installs(plain))
    assert any(spec.INSTALL_FFMPEG_BLENDER in x for x in installs(blender)), "Debian's blender package"
    assert as_service(blender) == as_service(plain), "the same start command as the plain worker"
    assert "worker-blender" not in {k.split("@")[0] for k in pipeline._stage_targets()}, "not in a default build"


def test_shared_storage_is_one_cache_volume_at_the_same_path_everywhere(pipeline):
    svc = pipeline.dev(3)
    manager = mounts(svc)
    key, owner = manager[spec.SHARED_STORAGE]
    assert owner == OWNER, "owned by the runtime user, who runs both apps"
    for worker in bindings(svc).values():
        assert mounts(worker) == {spec.SHARED_STORAGE: (key, OWNER)}
    assert manager[spec.DATA_DIR][1] == OWNER and manager[spec.DATA_DIR][0] != key
    assert manager[spec.MANAGER_STORAGE][1] == OWNER
    assert all(k.startswith("flamenco-dev-") for k, _ in manager.values()), "dev data persists in dev volumes"


@pytest.mark.parametrize("bad", [0, 100, -1, spec.MAX_FARM_WORKERS + 1])
def test_bad_workers_is_one_line_naming_the_argument(pipeline, bad):
    for call in (lambda: pipeline.dev(bad), lambda: anyio.run(pipeline.integration_test, bad)):
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert msg == f"invalid argument workers={bad}: must be between 1 and {spec.MAX_FARM_WORKERS}"
        assert "\n" not in msg


# --------------------------------------------------------------------------- #
# integration_test


def checker(pipeline, workers=3, run="run1"):
    return pipeline._integration_checker(workers, run)


def test_checker_runs_the_modules_own_script_against_the_farm(pipeline):
    ctr = checker(pipeline)
    d = spec.CHECKER_DIR
    (script,) = [c for c in calls(ctr, "withNewFile") if c.args["path"] == f"{d}/integration.py"]
    assert script.args["contents"] == Path(integration.__file__).read_text()
    last = chain(ctr)[-1]
    assert last.name == "withExec" and last.args["expect"] == "ANY", "failed checks still return reports"
    argv = last.args["args"]
    assert argv[-1] == "--expect-shaman" and argv[-3:-1] == ["--shared-storage", spec.SHARED_STORAGE]
    assert argv[-3:] == farm_config.checker_args()
    opts = dict(zip(argv[2:-3:2], argv[3:-3:2]))
    assert argv[:2] == ["python3", f"{d}/integration.py"]
    assert opts == {
        "--manager": spec.MANAGER_URL, "--workers": "3", "--spec": f"{d}/spec/flamenco-openapi.yaml",
        "--db": f"{d}/manager-data/{spec.MANAGER_DB}", "--stamp-version": STAMP["version"],
        "--stamp-hash": STAMP["git_hash"], "--stamp-release-cycle": STAMP["release_cycle"],
        "--junit": f"{d}/reports/integration.xml",
        "--timing": f"{d}/reports/integration-timing.txt",
    }
    # and the script accepts exactly that command line
    cfg = integration.parse_args([*argv[2:4], *argv[4:6], "--spec", str(ROOT / "tests/fixtures/flamenco-mini"
                                  / spec.OPENAPI_SPEC), *argv[8:]])
    assert cfg.workers == 3 and cfg.manager == spec.MANAGER_URL


def test_checker_is_bound_to_the_manager_which_binds_the_workers(pipeline):
    ctr = checker(pipeline, workers=3)
    (farm,) = bindings(ctr).values()
    assert list(bindings(ctr)) == [spec.MANAGER_HOSTNAME]
    assert hostname(farm) == spec.MANAGER_HOSTNAME
    assert list(bindings(farm)) == ["worker-1", "worker-2", "worker-3"]


def test_checker_reads_the_database_from_the_managers_data_volume(pipeline):
    ctr = checker(pipeline, run="abc")
    (farm,) = bindings(ctr).values()
    data_key, _ = mounts(farm)[spec.DATA_DIR]
    assert mounts(ctr)[f"{spec.CHECKER_DIR}/manager-data"][0] == data_key
    assert data_key == "flamenco-it-abc-manager-data", "a fresh volume per run: the manager must create the DB"
    other = checker(pipeline, run="xyz")
    assert mounts(bindings(other)[spec.MANAGER_HOSTNAME])[spec.SHARED_STORAGE][0] == "flamenco-it-xyz-shared-storage"
    envs = {c.args["name"]: c.args["value"] for c in calls(other, "withEnvVariable")}
    assert envs["FLAMENCO_INTEGRATION_RUN"] == "xyz", "each run is a new exec, never a cached result"


def test_checker_uses_the_python_image_setting_and_the_sources_spec(pipeline):
    p = make_pipeline(python_image="registry.example/py:3.12-slim")
    ctr = checker(p)
    assert calls(ctr, "from")[0].args["address"] == "registry.example/py:3.12-slim"
    (spec_dir,) = [c for c in calls(ctr, "withDirectory") if c.args["path"] == f"{spec.CHECKER_DIR}/spec"]
    assert spec_dir.args["include"] == ["flamenco-openapi.*"]
    assert [c.args["path"] for c in chain(spec_dir.args["source"]) if c.name == "directory" and c.args][-1] == "pkg/api"


def test_checker_setup_runs_before_the_farm_so_it_stays_cached(pipeline):
    names = [c.name for c in chain(checker(pipeline))]
    setup = [i for i, c in enumerate(chain(checker(pipeline)))
             if c.name == "withExec" and "pyyaml==" in c.args["args"][-1]]
    assert len(setup) == 1
    assert setup[0] < names.index("withServiceBinding")


def _fake_python(tmp_path: Path, has_yaml: bool) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    py = bin_dir / "python3"
    py.write_text("#!/bin/sh\n"
                  f'if [ "$1" = "-c" ]; then exit {0 if has_yaml else 1}; fi\n'
                  'printf "%s\\n" "$@" > "$RECORD"\n')
    py.chmod(py.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize("has_yaml,twin,installs", [(False, False, True), (False, True, False), (True, False, False)])
def test_checker_setup_installs_pyyaml_only_when_needed(tmp_path, has_yaml, twin, installs):
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    if twin:
        (spec_dir / "flamenco-openapi.json").write_text("{}")
    script = spec.CHECKER_SETUP.script.replace(spec.CHECKER_DIR, str(tmp_path))
    record = tmp_path / "pip-args"
    env = {**os.environ, "PATH": f"{_fake_python(tmp_path, has_yaml)}:/usr/bin:/bin", "RECORD": str(record)}
    subprocess.run(["sh", "-c", script], env=env, check=True, capture_output=True)
    assert record.exists() == installs
    if installs:
        assert record.read_text().split() == ["-m", "pip", "install", "--no-cache-dir",
                                              "--disable-pip-version-check", f"pyyaml=={spec.PYYAML_VERSION}"]


# --------------------------------------------------------------------------- #
# registration and compose


def test_functions_are_registered_with_the_worker_bounds_in_their_docs():
    env = {**os.environ, "DAGGER_MAIN_OBJECT": "FlamencoPipeline", "DAGGER_DEFAULT_PYTHON_PACKAGE": "flamenco_pipeline"}
    out = subprocess.run([sys.executable, str(ROOT / "tests/tools/offline_register.py")],
                         env=env, capture_output=True, text=True, check=True, timeout=120)
    main = next(o for o in json.loads(out.stdout)["objects"] if o["name"] == "FlamencoPipeline")
    fns = {f["name"]: f for f in main["functions"]}
    for name in ("dev", "integrationTest"):
        fn = fns.get(name) or fns[name.replace("T", "_t")]
        arg, blender = fn["args"]
        assert arg["name"] == "workers"
        assert f"1 to {spec.MAX_FARM_WORKERS}" in arg["description"]
        assert blender["name"] in ("workerBlender", "worker_blender") and "Blender" in blender["description"]


def test_compose_farm_uses_the_same_hostname_and_manager_url():
    import yaml

    doc = yaml.safe_load((ROOT / "compose.dev.yml").read_text())
    assert spec.MANAGER_HOSTNAME in doc["services"]
    for kind in ("manager", "worker"):
        service = doc["services"][spec.MANAGER_HOSTNAME if kind == "manager" else kind]
        assert service["entrypoint"] == farm_config.start_command(kind), "the same start command as Dagger's"
        assert service["environment"] == farm_config.environment(kind), (
            f"compose.dev.yml's copy of {farm_config.CONFIG_FILE[kind]} differs from pipeline/core/farm_config.py")
        assert "command" not in service


# --------------------------------------------------------------------------- #
# ci includes the integration test


@pytest.mark.parametrize("integration_code", [0, 1])
def test_ci_runs_the_integration_test_and_merges_its_reports(monkeypatch, integration_code):
    """ci() with the engine-bound parts replaced by lazy stand-ins; the rest runs as written."""
    from dagger import dag

    from pipeline.dagger_lane.main import FlamencoPipeline
    from pipeline.dagger_lane.results import TestResult

    unit = dag.directory().with_new_file("junit.xml", "<testsuites/>")
    integ = dag.directory().with_new_file("integration.xml", "<testsuites/>")
    called = []

    class Synced:
        async def sync(self):
            return self

    async def fake_test(self):
        return TestResult(reports=unit, exit_code=0)

    async def fake_integration(self, workers=3):
        called.append(workers)
        return TestResult(reports=integ, exit_code=integration_code)

    async def fake_evaluate(self, targets):
        return {name: {"started": 0.0, "finished": 1.0, "ok": True} for name in targets}

    async def fake_facts(self, image_sizes=True):
        return {}

    monkeypatch.setattr(FlamencoPipeline, "test", fake_test)
    monkeypatch.setattr(FlamencoPipeline, "check", lambda self: Synced())
    monkeypatch.setattr(FlamencoPipeline, "integration_test", fake_integration)
    monkeypatch.setattr(FlamencoPipeline, "_evaluate", fake_evaluate)
    monkeypatch.setattr(FlamencoPipeline, "_facts", fake_facts, raising=False)
    answer_platforms(monkeypatch)
    result = anyio.run(make_pipeline().ci)
    assert called == [3], "ci runs the integration test once, with the default 3 workers"
    lines = result.summary.splitlines()
    assert lines[-1] == ("integration: passed" if integration_code == 0
                         else "integration: failed (see reports/integration.xml)")
    assert result.exit_code == integration_code
    merged = [c for c in calls(result.dist, "withDirectory") if c.args["path"] == "reports"]
    assert merged[-1].args["source"] is integ, "integration.xml lands in dist/reports with the unit tests' reports"
