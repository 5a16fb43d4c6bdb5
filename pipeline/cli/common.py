"""What every CLI module shares: the path type and the one way to fail (no command here)."""

from __future__ import annotations

import sys

import click

from pipeline.core.errors import EXIT_USAGE


class TextPath(click.Path):
    """click.Path for every path the CLI takes: the value passes pipeline.core.validate.text first.

    click.Path stats the value, and a NUL byte there is a ValueError (a traceback); a newline
    would end up in messages and repro.json. Either is a usage error: one line, exit 2.
    """

    def convert(self, value, param, ctx):
        from pipeline.core.validate import text

        try:
            text(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)
        return super().convert(value, param, ctx)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """The one way the CLI reports a problem: one line (redacted, escaped, bounded), then exit."""
    from pipeline.core.validate import one_line

    click.echo(f"flamenco-pipeline: error: {one_line(message, limit=2000)}", err=True)
    sys.exit(code)
