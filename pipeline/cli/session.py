"""The Dagger session behind the engine-backed commands: open it, create the module object from
the settings (facts read from a local checkout first), run the command's action, and turn
every failure into one line and the README's exit code."""

from __future__ import annotations

import sys

from pipeline.cli.common import fail
from pipeline.core.errors import EXIT_ENGINE, EXIT_FAILED, EXIT_USAGE


def local_facts(settings):
    """Go version and stamp for a local source (host-side, no engine)."""
    from pipeline.core.source_facts import StampError, local_stamp, parse_go_mod

    try:
        stamp = local_stamp(
            settings.source, version=settings.version, git_hash=settings.git_hash,
            release_cycle=settings.release_cycle,
        )
        gover = settings.go_version or parse_go_mod((settings.source / "go.mod").read_text()).toolchain_version
    except (StampError, ValueError) as e:
        fail(str(e))
    return gover, stamp


def session_config():
    """The engine's own progress goes straight to our stderr (a real file, so the
    SDK hands it to the Dagger CLI instead of draining it into a buffer). Under
    `dagger run flamenco-pipeline ...` the SDK joins that session: its TUI shows."""
    import dagger

    return dagger.Config(log_output=sys.stderr)


def with_pipeline(settings, action):
    """Open a Dagger session, create the module object from settings, run `action`.

    Every setting reaches `FlamencoPipeline.create` under its own name (the host
    objects as Dagger objects). Failures become one line and the README's exit code,
    see :func:`session_failure`.
    """
    import anyio

    from pipeline.core.settings import HOST_OBJECTS, Settings

    entered = False

    async def go():
        nonlocal entered
        import dagger
        from dagger import dag

        from pipeline.dagger_lane.main import FlamencoPipeline

        kwargs = {n: getattr(settings, n) for n in Settings.model_fields if n not in HOST_OBJECTS}
        if settings.source is not None:
            gover, stamp = local_facts(settings)
            kwargs |= {"go_version": gover, "version": stamp.version, "git_hash": stamp.git_hash,
                       "release_cycle": stamp.release_cycle}
        async with dagger.connection(session_config()):
            entered = True
            source = dag.host().directory(str(settings.source)) if settings.source else None
            ca = dag.host().file(str(settings.ca_cert)) if settings.ca_cert else None
            netrc = dag.set_secret("go-netrc", settings.go_netrc.read_text()) if settings.go_netrc else None
            pipe = await FlamencoPipeline.create(source=source, ca_cert=ca, go_netrc=netrc, **kwargs)
            return await action(pipe)

    try:
        return anyio.run(go)
    except Exception as e:  # noqa: BLE001 - every failure becomes one line and an exit code
        code, line = session_failure(e, entered)
        if code is None:
            raise
        fail(line, code)


def _root_causes(e: BaseException) -> list[BaseException]:
    """The errors behind the SDK's wrappers: SessionError wraps any OSError, ValueError or
    TypeError raised inside `dagger.connection()`, and task groups wrap in ExceptionGroup."""
    from dagger import SessionError

    if isinstance(e, SessionError) and e.__cause__ is not None and e.__cause__ is not e:
        return _root_causes(e.__cause__)
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in _root_causes(sub)]
    return [e]


def _first_line(text: str, fallback: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), fallback)


def session_failure(e: BaseException, entered: bool) -> tuple[int | None, str]:
    """(exit code, one line) for an error out of a Dagger session; (None, "") for a bug.

    `entered` says whether the session was up: before that, any failure means no engine.
    """
    import dagger

    from pipeline.core.errors import BuildFailed

    causes = _root_causes(e)
    engine_errors = (dagger.ProvisionError, dagger.TransportError, dagger.ClientConnectionError)
    lost = [c for c in causes if isinstance(c, engine_errors)]
    root = lost[0] if lost else causes[0]
    if not entered or lost:
        cause = _first_line(str(root), type(root).__name__)
        return EXIT_ENGINE, f"could not start or reach a Dagger engine ({cause}); it needs a container runtime such as Docker"
    if isinstance(root, BuildFailed):
        return EXIT_FAILED, str(root)
    if isinstance(root, dagger.ExecError):
        err = _first_line("\n".join(reversed((root.stderr or "").splitlines())), str(root))
        return EXIT_FAILED, f"a step failed (exit {root.exit_code}): {err}"
    if isinstance(root, dagger.QueryError):
        return EXIT_FAILED, _first_line(str(root), "the engine refused a query")
    if isinstance(root, TimeoutError):
        return EXIT_FAILED, f"timed out: {_first_line(str(root), 'a step took too long')}"
    if isinstance(root, ValueError):  # SettingsError, UsageError: the user's input
        return EXIT_USAGE, _first_line(str(root), type(root).__name__)
    return None, ""
