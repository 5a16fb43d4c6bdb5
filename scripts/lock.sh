#!/usr/bin/env bash
# Regenerate requirements.lock (the module's locked runtime deps) with uv.
#
# Why not uv.lock: uv.lock records every package's download URL, i.e. the
# package index host names, and this repository carries none. Dagger 0.21's
# Python runtime accepts requirements.lock instead (`uv pip install -e ./sdk -e .
# --no-deps -r requirements.lock`, then `uv pip check`); it holds exact pins only.
#
# `dagger-io` comes from the vendored `sdk/` (see [tool.uv.sources]), which
# `dagger develop` writes. Without an engine we lay down a metadata-only stand-in
# `sdk/` (name dagger-io, version 0.0.0, the dependencies of the pinned PyPI
# release) so uv can resolve, then remove it.
set -euo pipefail
cd "$(dirname "$0")/.."
pin=$(sed -n 's/^dagger-io==//p' constraints/engine.txt)
if [ -e sdk ]; then
  echo "sdk/ exists (from dagger develop?): locking against it" >&2
  uv pip compile -q --no-header --no-emit-package dagger-io --universal pyproject.toml -o requirements.lock
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" sdk' EXIT
python3 -m pip download -q --no-deps -d "$tmp" "dagger-io==$pin"
deps=$(python3 - "$tmp"/dagger_io-*.whl <<'PY'
import sys, zipfile, email
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
msg = email.message_from_bytes(z.read(meta))
print(",\n".join(f'    "{r}"' for r in msg.get_all("Requires-Dist") or [] if "extra ==" not in r))
PY
)
mkdir -p sdk/src/dagger
touch sdk/src/dagger/__init__.py
cat > sdk/pyproject.toml <<TOML
[project]
name = "dagger-io"
version = "0.0.0"
requires-python = ">=3.10"
dependencies = [
$deps
]
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.hatch.build.targets.wheel]
packages = ["src/dagger"]
TOML
uv pip compile -q --no-header --no-emit-package dagger-io --universal pyproject.toml -o requirements.lock
echo "requirements.lock written (dagger-io from sdk/, with the deps of dagger-io $pin)"
