"""Result objects returned by the module (test reports, the `ci` bundle) and failure text.

Cache policies: see :data:`pipeline.dagger_lane.main.CACHE_POLICIES` (every function is explicit).
"""

from __future__ import annotations

import re
from typing import Annotated

import dagger
from dagger import Doc, field, function, object_type

# Every step script names itself in its time-limit message (pipeline.core.spec.step_script).
_STEP_NAME = re.compile(r"step '([^']+)' took longer than")
# Lines that say nothing about the cause: blank, shell tracing, the engine's trace suffix.
_NOISE = re.compile(r"^\s*$|^\+ |^\s*\[traceparent:")
STDERR_TAIL = 8  # how many meaningful stderr lines a failure carries


def step_name(command: list[str] | None) -> str | None:
    """The spec step an exec ran, from its `sh -c` script (None for other commands)."""
    script = (command or [""])[-1] if command else ""
    m = _STEP_NAME.search(script or "")
    return m.group(1) if m else None


def meaningful_tail(text: str, n: int = STDERR_TAIL) -> list[str]:
    """The last `n` lines of `text` that carry information (no blanks, no trace ids)."""
    lines = [re.sub(r"\s*\[traceparent:[^\]]*\]", "", ln).rstrip() for ln in (text or "").splitlines()]
    return [ln for ln in lines if not _NOISE.match(ln) and ln.strip()][-n:]


def describe_failure(e: BaseException) -> dict:
    """What a failed part says about itself: the failing step, exit code and last stderr lines.

    The engine's own message is only `exit code: 1 [traceparent:…]`; the cause (the gofmt
    list, the compile error, "step … took longer than 10s") is in the exec's stderr, which
    the SDK's ExecError carries (sdk/python/src/dagger/_exceptions.py at v0.21.8).
    """
    if isinstance(e, dagger.ExecError):
        step = step_name(e.command) or " ".join(e.command)[:80]
        tail = meaningful_tail(e.stderr) or meaningful_tail(e.stdout)
        head = f"step '{step}' failed (exit {e.exit_code})"
        return {"step": step, "exit_code": e.exit_code, "stderr": tail,
                "message": head + (": " + " | ".join(tail[-3:]) if tail else "")}
    text = meaningful_tail(str(e)) or [type(e).__name__]
    return {"step": None, "exit_code": None, "stderr": text, "message": f"{type(e).__name__}: {text[-1]}"}


@object_type
class TestResult:
    """Outcome of `go test` or of the integration test: the reports always come back, pass or fail."""

    __test__ = False  # not a pytest test class

    reports: Annotated[dagger.Directory, Doc("go test: junit.xml, go-test.json, coverage.out/.txt, exit-code; integration test: integration.xml, integration-timing.txt")] = field()
    exit_code: Annotated[int, Doc("Exit code of the tests (0 = all passed)")] = field()

    @function(cache="session")
    def passed(self) -> bool:
        """True when every test passed."""
        return self.exit_code == 0


@object_type
class CiResult:
    """Everything `ci` produced; `exit_code` is non-zero if any part failed."""

    dist: Annotated[dagger.Directory, Doc("images/, bin/, reports/, build-report.json, ci-result.json")] = field()
    exit_code: Annotated[int, Doc("0 when test, check, build and the integration test all passed")] = field()
    summary: Annotated[str, Doc("One line per part: test, check, build, integration")] = field()

    @function(cache="session")
    def verdict(self) -> str:
        """Returns the summary, or fails when anything failed (for one `dagger call ci verdict`;
        CI takes its verdict from the exported dist/ci-result.json instead, see pipeline/ci/verdict.py)."""
        if self.exit_code != 0:
            raise ValueError(f"ci failed:\n{self.summary}")
        return self.summary
