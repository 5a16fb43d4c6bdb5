"""The one boundary the CLI tests replace: the Dagger engine.

`dagger.connection()` opens no session, and every query the real SDK would send
is recorded (its selection chain, as tests/querychain.py reads it) and answered by
`answer(field, chain)`; the default answer is the error a vanished engine gives.
Everything on our side of that line runs for real: the click command, settings,
`with_pipeline`, `FlamencoPipeline.create` and the module's functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import dagger
from dagger.client._core import Context

from tests.querychain import Call

Answer = Callable[[str, list[Call]], Any]


def engine_gone(field: str, chain: list[Call]) -> Any:
    raise dagger.TransportError("connection to the engine was lost (fake engine)")


ENGINE_PLATFORM = "linux/amd64"
PLATFORM_FIELDS = ("defaultPlatform", "platform")
RESOLVED_COMMIT = "cf286e71" + "0" * 32  # what `git(url).ref(name).commit` resolves to


def platform_answer(chain: list[Call]) -> str:
    """What any engine answers, before anything can fail: its own platform (`defaultPlatform`,
    asked by create) or a container's (`platform`, asked by the platform check): the one the
    container was asked for, as an engine does for multi-platform images."""
    made = [c for c in chain if c.name == "container"]
    return dagger.Platform(str((made[0].args.get("platform") if made else None) or ENGINE_PLATFORM))


class FakeEngine:
    def __init__(self, answer: Answer = engine_gone):
        self.answer = answer
        self.queries: list[list[Call]] = []
        self.sessions = 0

    def install(self, monkeypatch) -> FakeEngine:
        engine = self

        @contextlib.asynccontextmanager
        async def connection(config=None):
            engine.sessions += 1
            yield None

        async def execute(ctx: Context, return_type=None):
            chain = [Call(f.type_name, f.name, dict(f.args)) for f in ctx.selections]
            engine.queries.append(chain)
            if chain[-1].name in PLATFORM_FIELDS:
                return platform_answer(chain)
            if [c.name for c in chain[-2:]] == ["ref", "commit"]:  # create resolves --git-ref once
                return RESOLVED_COMMIT
            return engine.answer(chain[-1].name, chain)

        monkeypatch.setattr(dagger, "connection", connection)
        monkeypatch.setattr(Context, "execute", execute)
        return self

    def fields(self) -> list[str]:
        """The last field of every query sent, in order."""
        return [q[-1].name for q in self.queries]
