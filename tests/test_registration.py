"""Registration as Dagger's Python runtime does it, offline (see tools/offline_register.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _main_object_name() -> str:
    """What the runtime derives: strcase.ToCamel(dagger.json name)."""
    name = json.loads((ROOT / "dagger.json").read_text())["name"]
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


@pytest.fixture(scope="module")
def typedefs():
    env = {**os.environ, "DAGGER_MAIN_OBJECT": _main_object_name(),
           "DAGGER_DEFAULT_PYTHON_PACKAGE": "flamenco_pipeline"}
    out = subprocess.run([sys.executable, str(ROOT / "tests/tools/offline_register.py")],
                         env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)["objects"]


def test_dagger_json_and_pyproject_agree_with_the_runtime_rules():
    dj = json.loads((ROOT / "dagger.json").read_text())
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    from pipeline.ci.commands import MIN_ENGINE_VERSION

    pin = (ROOT / "constraints/engine.txt").read_text().split("==")[1].strip()
    assert dj["engineVersion"] == f"v{MIN_ENGINE_VERSION}", "engineVersion is the lowest engine we support"
    lowest = tuple(int(x) for x in MIN_ENGINE_VERSION.split("."))
    assert lowest <= tuple(int(x) for x in pin.split(".")), "tests run an SDK at least as new as engineVersion"
    assert dj["sdk"]["source"] == "python" and dj["source"] == "."
    assert "!tests/fixtures" in dj["include"]
    rp = py["project"]["requires-python"]
    assert rp.startswith(">=") and "," not in rp, "a compound requires-python breaks module loading"
    assert "dagger-io" in py["project"]["dependencies"], "dagger-io must stay unpinned (the engine vendors sdk/)"
    assert py["tool"]["uv"]["sources"]["dagger-io"] == {"path": "sdk", "editable": True}
    ep = py["project"]["entry-points"]["dagger.mod"]["main_object"]
    assert ep.endswith(":" + _main_object_name())
    assert py["tool"]["uv"]["build-backend"]["module-name"] == "pipeline"


def test_main_object_registers_with_every_function(typedefs):
    names = {o["name"] for o in typedefs}
    assert {"FlamencoPipeline", "TestResult", "CiResult"} <= names
    main = next(o for o in typedefs if o["name"] == "FlamencoPipeline")
    fns = {f["name"] for f in main["functions"] if not f["constructor"]}
    assert {"base", "deps", "build-tools", "app", "binaries", "manager", "worker", "test", "check",
            "build", "publish", "ci", "plan"} <= {f.replace("_", "-") for f in fns} | fns


def test_every_function_and_argument_is_documented(typedefs):
    missing = []
    for obj in typedefs:
        if not obj.get("description"):
            missing.append(obj["name"])
        for fn in obj["functions"]:
            label = f"{obj['name']}.{fn['name'] or 'constructor'}"
            if not fn["description"]:
                missing.append(label)
            missing += [f"{label}({a['name']})" for a in fn["args"] if not a["description"]]
    assert not missing, f"undocumented: {missing}"


def test_constructor_takes_the_settings(typedefs):
    main = next(o for o in typedefs if o["name"] == "FlamencoPipeline")
    (ctor,) = [f for f in main["functions"] if f["constructor"]]
    args = {a["name"] for a in ctor["args"]}
    from pipeline.core.settings import Settings

    assert {"source", "goproxy", "gosumdb", "ca_cert", "platforms", "git_ref"} <= args
    assert args <= set(Settings.model_fields), "every constructor argument is a validated setting"


def _policy(fn: dict) -> str | None:
    return fn["cache_policy"]


def test_every_function_declares_its_cache_policy(typedefs):
    """No function falls back to the engine's 7-day default; `ci` and the farm test always run."""
    from pipeline.dagger_lane.main import CACHE_POLICIES

    expected_enum = {"never": "Never", "session": "PerSession"}
    main = next(o for o in typedefs if o["name"] == "FlamencoPipeline")
    fns = {f["name"]: f for f in main["functions"] if not f["constructor"]}
    assert set(fns) == set(CACHE_POLICIES), "CACHE_POLICIES lists exactly the registered functions"
    for name, fn in fns.items():
        assert _policy(fn) == expected_enum[CACHE_POLICIES[name]], name
    assert {n for n, p in CACHE_POLICIES.items() if p == "never"} == {"ci", "integration_test", "publish"}
    for obj in ("TestResult", "CiResult"):
        for fn in next(o for o in typedefs if o["name"] == obj)["functions"]:
            assert _policy(fn) == "PerSession", f"{obj}.{fn['name']}"


def test_the_constructor_is_per_session_through_dagger_json(typedefs):
    """The SDK registers the constructor without a policy (it cannot take one), so only
    dagger.json's disableDefaultFunctionCaching keeps `create` from replaying an old
    git-ref resolution for 7 days (core/typedef.go derivedCachePolicy)."""
    main = next(o for o in typedefs if o["name"] == "FlamencoPipeline")
    (ctor,) = [f for f in main["functions"] if f["constructor"]]
    assert ctor["cache_policy"] is None
    assert json.loads((ROOT / "dagger.json").read_text())["disableDefaultFunctionCaching"] is True


def test_source_argument_ignores_what_the_pipeline_writes(typedefs):
    from pipeline.ci import commands as cc
    from pipeline.core import spec

    main = next(o for o in typedefs if o["name"] == "FlamencoPipeline")
    (ctor,) = [f for f in main["functions"] if f["constructor"]]
    (source,) = [a for a in ctor["args"] if a["name"] == "source"]
    ignore = source["ignore"]
    assert ignore == list(spec.SOURCE_IGNORE)
    for written in (cc.EXPORT_DIR, cc.REPRO_JSON, "**/node_modules"):
        assert written in ignore and written in spec.SOURCE_EXCLUDES, written
    assert ".git" not in ignore, "the stamp's hash is read from .git/HEAD"
