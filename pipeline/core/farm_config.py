"""The farm's Flamenco configuration files, generated from the spec (engine-free, stdlib only).

Both lanes start the same farm: compose.dev.yml (Docker) and `dev` /
`integration_test` (Dagger, pipeline/dagger_lane/main.py). Each gets the two files from here:

* ``flamenco-manager.yaml`` in the Manager's working directory. Flamenco 3.9
  (``internal/manager/config/config.go``, ``defaults.go``, ``service.go``) loads it
  from the CWD, parses it over its defaults (``loadConf``: only ``_meta.version``
  3 is accepted), and treats a missing file *or an empty* ``shared_storage_path``
  as the first run: the setup assistant in the web UI, a browser opened with
  ``xdg-open`` (``cmd/flamenco-manager/main.go`` ``openWebbrowser``) and no Shaman
  (``buildShamanServer``). A non-empty ``shared_storage_path`` therefore switches
  all three off. ``autodiscoverable: false`` stops the UPnP/SSDP server (useless
  on a container network: workers get ``manager_url``).
* ``flamenco-worker.yaml`` in each Worker's working directory
  (``internal/worker/config.go``): ``manager_url`` (no autodiscovery) and the
  default ``task_types``. The worker's name comes from ``FLAMENCO_WORKER_NAME`` or
  the host name (``internal/worker/registration.go``), so one file serves every
  worker.

The files reach the containers as environment variables, written into the
working directory by a one-line shell start command (:func:`start_command`) at
every start: the farm always runs with what the pipeline generated, in both lanes,
with no file mounts. The command uses ``printenv`` (no ``$``), so compose does not
interpolate it.
"""

from __future__ import annotations

from pipeline.core import spec

MANAGER_CONFIG = "flamenco-manager.yaml"  # read from the Manager's CWD (spec.DATA_DIR)
WORKER_CONFIG = "flamenco-worker.yaml"  # read from the Worker's CWD (spec.DATA_DIR)
CONFIG_ENV = {"manager": "FLAMENCO_MANAGER_YAML", "worker": "FLAMENCO_WORKER_YAML"}
CONFIG_FILE = {"manager": MANAGER_CONFIG, "worker": WORKER_CONFIG}

# Flamenco's own values (internal/manager/config/defaults.go, internal/worker/config.go).
CONFIG_VERSION = 3  # latestConfigVersion: any other _meta.version is refused
SHAMAN_CHECKOUT_DIR = "jobs"  # pkg/shaman/config: checkoutSubDir; job storage when Shaman is on
WORKER_TASK_TYPES = ("blender", "ffmpeg", "file-management", "misc")  # defaultConfig.TaskTypes
MANAGER_NAME = "Flamenco (flamenco-pipeline farm)"


def manager_config(
    *,
    shared_storage: str = spec.SHARED_STORAGE,
    port: int = spec.MANAGER_PORT,
    database: str = spec.MANAGER_DB,
    shaman: bool = True,
) -> dict:
    """flamenco-manager.yaml as a mapping: Flamenco's keys, our values.

    Keys left out keep Flamenco's defaults (loadConf parses over DefaultConfig()):
    ``local_manager_storage_path`` ``./flamenco-manager-storage`` (next to the
    executable: spec.MANAGER_STORAGE), timeouts, blocklist, variables
    (``blender`` = ``blender`` on PATH).
    """
    if not shared_storage.startswith("/"):
        raise ValueError(f"shared storage {shared_storage!r} must be an absolute path (Flamenco makes it absolute)")
    return {
        "_meta": {"version": CONFIG_VERSION},
        "manager_name": MANAGER_NAME,
        "database": database,
        "listen": f":{port}",
        "autodiscoverable": False,
        "shared_storage_path": shared_storage,
        "shaman": {"enabled": shaman},
    }


def worker_config(*, manager_url: str = spec.MANAGER_URL) -> dict:
    """flamenco-worker.yaml as a mapping."""
    return {"manager_url": manager_url, "task_types": list(WORKER_TASK_TYPES)}


def job_storage(config: dict) -> str:
    """Where Flamenco puts job files (api GetConfiguration's storageLocation): EffectiveStoragePath."""
    shared = config["shared_storage_path"]
    return f"{shared}/{SHAMAN_CHECKOUT_DIR}" if config["shaman"]["enabled"] else shared


def checker_args() -> list[str]:
    """What pipeline/container_scripts/integration.py must find on this farm's manager (`manager_configured`)."""
    conf = manager_config()
    return ["--shared-storage", conf["shared_storage_path"]] + (["--expect-shaman"] if conf["shaman"]["enabled"] else [])


# --------------------------------------------------------------------------- #
# rendering: a tiny YAML emitter for mappings of scalars, lists and mappings


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot render {type(value).__name__} {value!r} as a YAML scalar")


def to_yaml(mapping: dict, indent: int = 0) -> str:
    """Block-style YAML with every string double-quoted (stable, and valid for yaml.v2)."""
    pad = " " * indent
    lines = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(value, indent + 2).rstrip("\n"))
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {_scalar(v)}" for v in value)
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


HEADER = (
    "# {name}, written by flamenco-pipeline (pipeline/core/farm_config.py) at every start of the farm.\n"
    "# Keys and defaults: Flamenco's {source}.\n"
)


def manager_yaml(**kw) -> str:
    return HEADER.format(name=MANAGER_CONFIG, source="internal/manager/config/") + to_yaml(manager_config(**kw))


def worker_yaml(**kw) -> str:
    return HEADER.format(name=WORKER_CONFIG, source="internal/worker/config.go") + to_yaml(worker_config(**kw))


def config_text(kind: str) -> str:
    """The generated file of `kind` ('manager' or 'worker') for the farm of the spec."""
    return {"manager": manager_yaml, "worker": worker_yaml}[kind]()


def start_script(kind: str) -> str:
    """sh script: write the config from its environment variable into the CWD, then exec the binary."""
    env, name = CONFIG_ENV[kind], CONFIG_FILE[kind]
    return (
        f"printenv {env} > {name} || {{ echo 'flamenco-pipeline: {env} is not set' >&2; exit 2; }}; "
        f"exec {spec.APP_DIR}/flamenco-{kind}"
    )


def start_command(kind: str) -> list[str]:
    """The container command of the farm's `kind` service, in both lanes."""
    return ["sh", "-c", start_script(kind)]


def environment(kind: str) -> dict[str, str]:
    """The environment variables the start command reads."""
    return {CONFIG_ENV[kind]: config_text(kind)}


if __name__ == "__main__":  # `python -m pipeline.core.farm_config manager|worker`: print a generated file
    import sys

    if len(sys.argv) != 2 or sys.argv[1] not in CONFIG_ENV:
        print("usage: python -m pipeline.core.farm_config manager|worker", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(config_text(sys.argv[1]))
