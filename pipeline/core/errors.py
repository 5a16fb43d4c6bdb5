"""The failures the pipeline raises on purpose, and the exit code each one means.

Engine-free: raised inside Dagger functions (module mode shows the message) and
mapped to the README's exit codes by the CLI, whichever lane raised them.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENGINE = 0, 1, 2, 3


class UsageError(ValueError):
    """A bad argument or setting, found before or while the graph is built: exit 2."""

    exit_code = EXIT_USAGE


class BuildFailed(RuntimeError):
    """One or more stages failed: exit 1. The message names them and the first cause."""

    exit_code = EXIT_FAILED

    def __init__(self, stages: list[str], cause: str = ""):
        self.stages, self.cause = list(stages), cause
        first = (cause.strip().splitlines() or [""])[0]
        super().__init__(f"build failed in stage(s) {', '.join(stages)}" + (f": {first}" if first else ""))
