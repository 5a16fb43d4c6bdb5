"""Result objects returned by the module: test reports and the `ci` bundle."""

from __future__ import annotations

from typing import Annotated

import dagger
from dagger import Doc, field, function, object_type


@object_type
class TestResult:
    """Outcome of `go test` or of the integration test: the reports always come back, pass or fail."""

    __test__ = False  # not a pytest test class

    reports: Annotated[dagger.Directory, Doc("go test: junit.xml, go-test.json, coverage.out/.txt, exit-code; integration test: integration.xml, integration-timing.txt")] = field()
    exit_code: Annotated[int, Doc("Exit code of the tests (0 = all passed)")] = field()

    @function
    def passed(self) -> bool:
        """True when every test passed."""
        return self.exit_code == 0


@object_type
class CiResult:
    """Everything `ci` produced; `exit_code` is non-zero if any part failed."""

    dist: Annotated[dagger.Directory, Doc("images/, bin/, reports/, build-report.json, ci-result.json")] = field()
    exit_code: Annotated[int, Doc("0 when test, check, build and the integration test all passed")] = field()
    summary: Annotated[str, Doc("One line per part: test, check, build, integration")] = field()

    @function
    def verdict(self) -> str:
        """Returns the summary, or fails (non-zero `dagger call` exit) when anything failed."""
        if self.exit_code != 0:
            raise ValueError(f"ci failed:\n{self.summary}")
        return self.summary
