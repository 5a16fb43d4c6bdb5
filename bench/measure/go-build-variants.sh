#!/bin/bash
# Inside the Go image, /src = a Flamenco checkout: the compile as two commands (the previous
# go-build), as one, and the fetch of the binaries' modules with and without the standard
# library compiling beside it. Fresh build cache for each; the module cache as noted.
set -e
cd /src
export GOFLAGS=-mod=readonly CGO_ENABLED=0 GOMODCACHE=/tmp/mod
ms() { echo "$(( ($(date +%s%N) - $1) / 1000000 )) ms"; }
fresh_modules() { chmod -R u+w /tmp/mod 2>/dev/null || true; rm -rf /tmp/mod; }
t=$(date +%s%N); GOMAXPROCS=8 go mod download; echo "go mod download, every module: $(ms $t)"
echo "modules the binaries import: $(go list -deps -f '{{with .Module}}{{.Path}}{{end}}' ./cmd/flamenco-worker ./cmd/flamenco-manager | sort -u | wc -l) of $(go list -m all | wc -l) in the graph"
export GOCACHE=/tmp/gcA; t=$(date +%s%N)
go build -o /tmp/binA/ ./cmd/flamenco-worker
go build $(go list -deps -f '{{if ne .Name "main"}}{{.ImportPath}}{{end}}' ./cmd/flamenco-manager)
echo "A two commands (worker, then the manager's packages), modules cached: $(ms $t)"
export GOCACHE=/tmp/gcB; t=$(date +%s%N)
go build -o /tmp/binB/ ./cmd/flamenco-worker ./cmd/flamenco-manager
echo "B one command, modules cached: $(ms $t)"
fresh_modules; export GOCACHE=/tmp/gcC; t=$(date +%s%N)
std="$(GOPROXY=off go list -e -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' ./cmd/flamenco-worker ./cmd/flamenco-manager 2>/dev/null)"
echo "standard-library packages named from the sources alone: $(echo $std | wc -w)"
GOPROXY=off go build $std & p=$!
GOMAXPROCS=8 go list -x -deps ./cmd/flamenco-worker ./cmd/flamenco-manager >/dev/null 2>/tmp/fetch.log
echo "C fetch of the binaries' modules ($(grep -c '^# get .*\.zip$' /tmp/fetch.log) zips): $(ms $t)"
wait $p; go build -o /tmp/binC/ ./cmd/flamenco-worker ./cmd/flamenco-manager
echo "C fetch + standard library beside it + one command, fresh module cache: $(ms $t)"
fresh_modules; export GOCACHE=/tmp/gcD; t=$(date +%s%N)
GOMAXPROCS=8 go list -deps ./cmd/flamenco-worker ./cmd/flamenco-manager >/dev/null 2>&1
go build -o /tmp/binD/ ./cmd/flamenco-worker ./cmd/flamenco-manager
echo "D fetch, then one command, fresh module cache: $(ms $t)"
