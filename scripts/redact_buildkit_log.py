"""Make a captured BuildKit plain-progress log fit to commit as test data.

    python scripts/redact_buildkit_log.py RAW.log > tests/data/NAME.log

The repository names no registry host, so three things are rewritten, with
rules that name none either:

* image references as BuildKit prints them (``FROM <host>/<path>``, ``load
  metadata for <host>/<path>``, ``naming to <host>/<path>``): the normalising
  host is dropped, leaving the reference as the Dockerfile wrote it;
* the hosts in the ``go env -json`` values of GOPROXY and GOSUMDB (the Go
  toolchain's defaults) become ``goproxy.invalid`` and ``sumdb.invalid``,
  wherever else in the log they occur too;
* any other ``http(s)://host`` becomes ``http(s)://redacted.invalid``.

Everything else (timings, order, cache hits, output) stays byte for byte.
The log holds no secret to begin with: build secrets (the CA bundle, a netrc)
are mounted files that BuildKit never prints, and the go-deps step keeps
``go mod download -x`` in a file inside the step.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.reports.facts import go_env_from_output  # noqa: E402
from pipeline.docker_lane.buildkit_log import parse  # noqa: E402

_IMAGE_REF = re.compile(r"(FROM |load metadata for |naming to )[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?/")
_URL = re.compile(r"(https?://)([A-Za-z0-9.-]+)")
_HOST = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def go_env_hosts(text: str) -> dict[str, str]:
    """{host: placeholder} from the GOPROXY/GOSUMDB values the go-deps step printed."""
    hosts: dict[str, str] = {}
    for v in parse(text).vertices:
        env = go_env_from_output([t for _, t in v.output])
        if not env:
            continue
        for entry in re.split(r"[,|]", env.get("GOPROXY", "")):
            if m := _URL.match(entry.strip()):
                hosts.setdefault(m.group(2), "goproxy.invalid")
        sumdb = env.get("GOSUMDB", "").split()[0] if env.get("GOSUMDB") else ""
        sumdb = sumdb.split("+")[0]
        if _HOST.match(sumdb):
            hosts.setdefault(sumdb, "sumdb.invalid")
    return hosts


def redact(text: str) -> str:
    for host, placeholder in sorted(go_env_hosts(text).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(host, placeholder)
    text = _IMAGE_REF.sub(r"\1", text)
    return _URL.sub(lambda m: m.group(0) if m.group(2).endswith(".invalid") else m.group(1) + "redacted.invalid", text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    sys.stdout.write(redact(Path(sys.argv[1]).read_text()))
