"""The canonical command lines that README.md, GitHub Actions and GitLab CI run.

One place for them: `tests/test_ci_files.py` parses README.md,
`.github/workflows/*.yml`, `docs/ci/*.yml` and `.gitlab-ci.yml` and checks that
every `dagger call` line (and every `call:` input of Dagger's GitHub action) is
exactly one of these. Change a line here, then in those files; the test says where.

`dagger call` syntax (Dagger 0.21): constructor arguments come right after `call`,
as `--name=value` (a Directory argument takes a local path or a git URL), then the
function, then the chain: `ci` returns a `CiResult` whose `dist` field is a
Directory (`export --path dist`). The export line itself succeeds when tests fail, so
the reports always come back; the verdict line then gives the job its colour from the
`dist/ci-result.json` that export wrote (`flamenco-pipeline verdict`, pipeline/ci/verdict.py).
`ci` is never cached, so a second `dagger call … ci verdict` would run everything again and
could disagree with the exported dist/; the file is the one result of the one run.

No engine import here: this module is read by tests and by `pipeline.ci.repro_record`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pipeline.core.settings import UPSTREAM_GIT_REF, UPSTREAM_GIT_URL

# The Dagger CLI the CI configs install, equal to constraints/engine.txt's dagger-io pin.
DAGGER_VERSION = "0.21.11"
# dagger.json's engineVersion: the LOWEST engine the module supports, not the newest. An
# engine older than engineVersion refuses to load the module ("module requires dagger
# v0.21.11" on v0.21.8-10 before). The module uses nothing newer than v0.21.8, the tag its
# engine and SDK source was read at: Container.withVolatileVariable (since v0.21.4),
# Container.platform, asTarball, defaultPlatform, function cache policies and dagger.json
# "disableDefaultFunctionCaching" (core/schema/modulesource.go). tests/test_ci_files.py
# checks MIN_ENGINE_VERSION <= DAGGER_VERSION and that dagger.json says this.
MIN_ENGINE_VERSION = "0.21.8"
# dagger/dagger-for-github release used by the workflows (the 0.21 docs use v8.3.0).
DAGGER_ACTION = "dagger/dagger-for-github@v8.3.0"

EXPORT_DIR = "dist"
CI_RESULT = "ci-result.json"  # written into dist/ by `ci`; the CI verdict reads it
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


# Fails the job when test, check, build or the integration test failed (read from the export).
VERDICT = f"flamenco-pipeline verdict {EXPORT_DIR}/{CI_RESULT}"


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
        """The `dagger call` arguments: one call, exporting dist/."""
        return (ci_export_args(self.source),)

    @property
    def lines(self) -> tuple[str, ...]:
        """What the job runs, in order: the export, then the verdict from its ci-result.json."""
        return (*(dagger_call(c) for c in self.calls), VERDICT)

    @property
    def record(self) -> str:
        """The step that writes repro.json for the export call (before it runs)."""
        return f"flamenco-pipeline repro {REPRO_JSON} --record {shlex.quote(self.calls[0])}"


PIPELINE_JOB = CiJob("pipeline", PIPELINE_REPO_SOURCE)      # .github/workflows/pipeline.yml, .gitlab-ci.yml
FLAMENCO_REPO_JOB = CiJob("flamenco-repo", FLAMENCO_REPO_SOURCE)  # docs/ci/flamenco-repo-workflow.yml

SUMMARY = f'flamenco-pipeline summary {JUNIT_XML} --repro {REPRO_JSON}'
# GitLab runs script lines with `set -e`: without the guard a missing junit.xml (the test
# step never ran) would stop the job before the verdict says why.
GITLAB_SUMMARY = f'if [ -f {JUNIT_XML} ]; then {SUMMARY}; else echo "no {JUNIT_XML}: see the verdict below"; fi'
PRINT_REPRO = f"flamenco-pipeline repro {REPRO_JSON} --print"
