"""The farm as Dagger services: the manager and N workers on one shared storage, and the checker.

`FlamencoPipeline.dev` and `FlamencoPipeline.integration_test` (pipeline.dagger_lane.main)
are the user-facing functions; this file builds what they return from the runtime
images. Names, paths and ports come from pipeline.core.spec, the config files and start
commands from pipeline.core.farm_config (the same ones compose.dev.yml carries).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import dagger
from dagger import dag

from pipeline.container_scripts import integration
from pipeline.core import farm_config, spec
from pipeline.core.errors import UsageError
from pipeline.core.source_facts import BuildStamp
from pipeline.dagger_lane.stages import StageGraph, with_run

MANAGER_WAIT_SECONDS = 300  # how long a worker waits for the manager to become healthy


def wait_for_manager(host: str, port: int, seconds: int = MANAGER_WAIT_SECONDS) -> str:
    """bash: wait until the manager answers GET /api/v3/version with 200 (no curl in the image)."""
    probe = (f"(exec 3<>/dev/tcp/{host}/{port} && printf 'GET /api/v3/version HTTP/1.0\\r\\n\\r\\n' >&3 "
             "&& head -n 1 <&3 | grep -q ' 200 ') 2>/dev/null")
    return (f"n=0; until {probe}; do n=$((n+1)); if [ $n -ge {seconds} ]; then "
            f"echo \"flamenco-pipeline: the manager at {host}:{port} was not healthy after {seconds}s\" >&2; exit 1; fi; "
            "sleep 1; done")


def with_farm_config(kind: str):
    """The farm's generated config file for `kind`, as the env variable its start command writes out."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        for name, value in farm_config.environment(kind).items():
            ctr = ctr.with_env_variable(name, value)
        return ctr

    return apply


def check_workers(workers: int) -> int:
    """The worker count, or a usage error naming the argument and its range."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= spec.MAX_FARM_WORKERS:
        raise UsageError(
            f"invalid argument workers={workers!r}: must be between 1 and {spec.MAX_FARM_WORKERS}"
        )
    return workers


def bound_manager(manager: dagger.Container, worker: dagger.Container, workers: int, volumes: str) -> dagger.Container:
    """The manager container with its volumes, bound to N worker services.

    Workers reach the manager by its hostname (`Service.with_hostname`), not
    through a binding, so there is no cycle; the manager binds the workers,
    so starting it starts them. The engine starts a container's bindings before
    the container (core/services.go StartBindings at v0.21.8), so each worker
    first waits until the manager answers /api/v3/version with 200 and only
    then starts flamenco-worker: the manager is up before any worker talks to
    it (compose.dev.yml does the same with `condition: service_healthy`). Every volume is a cache volume named
    `flamenco-<volumes>-...`, owned by the runtime user; the shared storage
    is the same volume at the same path in the manager and every worker.
    """
    check_workers(workers)
    owner = f"{spec.RUNTIME_UID}:{spec.RUNTIME_UID}"
    shared = dag.cache_volume(f"flamenco-{volumes}-shared-storage")
    manager = (
        manager
        .with_(with_farm_config("manager"))
        .with_mounted_cache(spec.DATA_DIR, dag.cache_volume(f"flamenco-{volumes}-manager-data"), owner=owner)
        .with_mounted_cache(spec.MANAGER_STORAGE, dag.cache_volume(f"flamenco-{volumes}-manager-storage"), owner=owner)
        .with_mounted_cache(spec.SHARED_STORAGE, shared, owner=owner)
    )
    worker = worker.with_(with_farm_config("worker")).with_mounted_cache(spec.SHARED_STORAGE, shared, owner=owner)
    for n in range(1, workers + 1):
        name = spec.worker_hostname(n)
        service = (
            worker.with_env_variable("FLAMENCO_WORKER_NAME", name)  # distinct: identical services would merge
            # waits for a healthy manager, then writes flamenco-worker.yaml (manager_url) and starts
            .as_service(args=["bash", "-c", wait_for_manager(spec.MANAGER_HOSTNAME, spec.MANAGER_PORT)
                              + "\n" + farm_config.start_script("worker")])
            .with_hostname(name)
        )
        manager = manager.with_service_binding(name, service)
    return manager


def manager_service(manager: dagger.Container) -> dagger.Service:
    """The bound manager container as the service `manager` (starting it starts the workers)."""
    return manager.as_service(args=farm_config.start_command("manager")).with_hostname(spec.MANAGER_HOSTNAME)


def integration_checker(graph: StageGraph, *, python_image: str, source: dagger.Directory, stamp: BuildStamp,
                        manager: dagger.Service, workers: int, run: str) -> dagger.Container:
    """The checker container bound to the farm's `manager`, running pipeline/container_scripts/integration.py (lazy).

    It reads the manager's database from the run's `flamenco-it-<run>-manager-data` volume.
    """
    d, api = spec.CHECKER_DIR, PurePosixPath(spec.OPENAPI_SPEC)
    ctr = (
        graph.with_volatile(dag.container().from_(python_image))
        .with_new_file(f"{d}/integration.py", Path(integration.__file__).read_text())
        .with_directory(f"{d}/spec", source.directory(str(api.parent)), include=[f"{api.stem}.*"])
        .with_(with_run(spec.CHECKER_SETUP, mounts=graph.mounts, toolchains=graph.toolchains,
                        build_platform=graph.build_platform))
        .with_mounted_cache(f"{d}/manager-data", dag.cache_volume(f"flamenco-it-{run}-manager-data"),
                            owner=f"{spec.RUNTIME_UID}:{spec.RUNTIME_UID}")
        .with_env_variable("FLAMENCO_INTEGRATION_RUN", run)  # a fresh run: never a cached result
        .with_directory(f"{d}/reports", dag.directory())  # reports/ exists even if the checker dies first
        .with_service_binding(spec.MANAGER_HOSTNAME, manager)
    )
    return ctr.with_exec(
        ["python3", f"{d}/integration.py",
         "--manager", spec.MANAGER_URL, "--workers", str(workers),
         "--spec", f"{d}/spec/{api.name}", "--db", f"{d}/manager-data/{spec.MANAGER_DB}",
         "--stamp-version", stamp.version, "--stamp-hash", stamp.git_hash,
         "--stamp-release-cycle", stamp.release_cycle,
         "--junit", f"{d}/reports/{spec.INTEGRATION_REPORTS[0]}",
         "--timing", f"{d}/reports/{spec.INTEGRATION_REPORTS[1]}", *farm_config.checker_args()],
        expect=dagger.ReturnType.ANY,
    )
