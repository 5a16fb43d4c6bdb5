"""The canonical command lines that README.md, GitHub Actions and GitLab CI run.

One place for them: `tests/test_ci_files.py` parses README.md,
`.github/workflows/*.yml`, `docs/ci/*.yml` and `.gitlab-ci.yml` and checks that
every `dagger call` line (and every `call:` input of Dagger's GitHub action) is
exactly one of these. Change a line here, then in those files; the test says where.

`dagger call` syntax (Dagger 0.21): constructor arguments come right after `call`,
as `--name=value` (a Directory argument takes a local path or a git URL), then the
function, then the chain: `ci` returns a `CiResult` whose `dist` field is a
Directory (`export --path dist`) and whose `verdict` function fails when any part
failed. The export line itself succeeds when tests fail, so the reports always come
back; the verdict line then gives the job its colour (the engine's function cache
answers it from the first call).

No engine import here: this module is read by tests and by `pipeline.repro`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pipeline.settings import UPSTREAM_GIT_REF, UPSTREAM_GIT_URL

# The Dagger CLI the CI configs install: equal to dagger.json's engineVersion
# (and to constraints/engine.txt's dagger-io); a test checks all three.
DAGGER_VERSION = "0.21.11"
# dagger/dagger-for-github release used by the workflows (the 0.21 docs use v8.3.0).
DAGGER_ACTION = "dagger/dagger-for-github@v8.3.0"

EXPORT_DIR = "dist"
JUNIT_XML = f"{EXPORT_DIR}/reports/junit.xml"
REPRO_JSON = "repro.json"

# This repository's CI builds upstream Flamenco at the pinned release, cloned here:
PIPELINE_REPO_SOURCE = "flamenco"
UPSTREAM_CLONE = f"git clone --depth 1 --branch {UPSTREAM_GIT_REF} {UPSTREAM_GIT_URL} {PIPELINE_REPO_SOURCE}"
# Inside Flamenco's own repository the checkout itself is the source:
FLAMENCO_REPO_SOURCE = "."


def ci_export_args(source: str) -> str:
    """`ci`, exporting dist/ (images, bin, reports, build-report.json, ci-result.json)."""
    return f"--source={source} ci {EXPORT_DIR} export --path {EXPORT_DIR}"


def ci_verdict_args(source: str) -> str:
    """`ci` again (answered from cache): fails the job when test, check or build failed."""
    return f"--source={source} ci verdict"


def dagger_call(args: str, *, module: str | None = None, interactive: bool = False) -> str:
    """`dagger call …` as a person types it; `module` adds `-m` (a remote module)."""
    parts = ["dagger"]
    if module:
        parts += ["-m", module]
    parts.append("call")
    if interactive:
        parts.append("--interactive")
    return " ".join(parts + shlex.split(args))


@dataclass(frozen=True)
class CiJob:
    """The `dagger call` arguments one CI job runs, in order."""

    name: str
    source: str

    @property
    def calls(self) -> tuple[str, ...]:
        return (ci_export_args(self.source), ci_verdict_args(self.source))

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(dagger_call(c) for c in self.calls)

    @property
    def record(self) -> str:
        """The step that writes repro.json for the export call (before it runs)."""
        return f"flamenco-pipeline repro {REPRO_JSON} --record {shlex.quote(self.calls[0])}"


PIPELINE_JOB = CiJob("pipeline", PIPELINE_REPO_SOURCE)      # .github/workflows/pipeline.yml, .gitlab-ci.yml
FLAMENCO_REPO_JOB = CiJob("flamenco-repo", FLAMENCO_REPO_SOURCE)  # docs/ci/flamenco-repo-workflow.yml

SUMMARY = f'flamenco-pipeline summary {JUNIT_XML} --repro {REPRO_JSON}'
PRINT_REPRO = f"flamenco-pipeline repro {REPRO_JSON} --print"
