"""`flamenco-pipeline verdict dist/ci-result.json`: the CI job's colour, from what was exported.

Why not a second `dagger call … ci verdict`: `ci` is never cached (pipeline.dagger_lane.main.CACHE_POLICIES),
so a second call would run everything again and could disagree with the dist/ already
exported; with the engine's default function caching it could instead replay an old
verdict for up to 7 days (docs/versioned_docs/version-0.21.4/extending/modules/
function-caching.mdx, "Default behavior"). The file the export wrote is the one result.

Standard library only (the CI job installs the pipeline without test extras); the file is
read as data, nothing in it runs. The command itself: pipeline.cli.verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

PARTS = ("test", "check", "build", "integration")
MAX_BYTES = 1_000_000


class VerdictError(ValueError):
    """ci-result.json is missing or not what `ci` writes (one line)."""


def read(path: Path) -> dict:
    if not path.is_file():
        raise VerdictError(f"{path} does not exist: the `ci … export` step did not finish; see its log")
    if path.stat().st_size > MAX_BYTES:
        raise VerdictError(f"{path} is larger than {MAX_BYTES} bytes; not a ci-result.json")
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VerdictError(f"{path} is not JSON ({e}); re-run the export step") from None
    code, outcome = (doc.get("exit_code"), doc.get("outcome")) if isinstance(doc, dict) else (None, None)
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(outcome, dict):
        raise VerdictError(f"{path} has no integer exit_code and outcome mapping; not written by `ci`")
    return doc


def summary_lines(doc: dict) -> list[str]:
    outcome = doc["outcome"]
    lines = [f"{k}: {outcome[k]}" for k in PARTS if k in outcome]
    for name, f in sorted((doc.get("failures") or {}).items()):
        if isinstance(f, dict):
            lines += [f"  {name}: {f.get('message', '')}"] + [f"    {ln}" for ln in f.get("stderr", [])[-5:]]
    return lines
