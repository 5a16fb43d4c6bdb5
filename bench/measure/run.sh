#!/bin/bash
# The one-off measurements behind docs/performance.md's go-build choices and CPU-floor table,
# on a Flamenco checkout, with the container lane's stand-in images (build them first:
# python -m tests.container_lane.standins). Usage: bench/measure/run.sh SOURCE [CA_BUNDLE]
# The npm registry is npm's own setting here (`npm config get registry`), as the bench passes it.
set -e
src="$(cd "$1" && pwd)"; ca="${2:-/etc/ssl/certs/ca-certificates.crt}"; here="$(cd "$(dirname "$0")" && pwd)"
docker="${DOCKER:-/usr/bin/docker}"; go_version="$(sed -n 's/^toolchain go//p; s/^go //p' "$src/go.mod" | tail -n 1)"
mounts=(-v "$src:/src:ro" -v "$ca:/etc/ssl/certs/ca-certificates.crt:ro" -v "$here:/measure:ro")
echo "== go-build variants"
"$docker" run --rm "${mounts[@]}" "flamenco-pipeline-standin/golang:${go_version}-bookworm" bash /measure/go-build-variants.sh
echo "== CPU floor"
"$docker" run --rm "${mounts[@]}" "flamenco-pipeline-standin/golang:${go_version}-bookworm" bash /measure/cpu-go.sh
"$docker" run --rm "${mounts[@]}" -e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt -e YARN_REGISTRY="$(npm config get registry)" \
  flamenco-pipeline-standin/node:22-bookworm-slim bash /measure/cpu-yarn.sh
"$docker" run --rm "${mounts[@]}" flamenco-pipeline-standin/debian:bookworm-slim bash /measure/cpu-ffmpeg.sh
