#!/bin/bash
# Inside the Go image, /src = a Flamenco checkout (read-only): go-build's work, then app's,
# from fresh module and build caches; wall and CPU (user+sys of this shell and its children).
set -e
cp -r /src /w && cd /w
export GOFLAGS=-mod=readonly CGO_ENABLED=0 GOCACHE=/tmp/gc GOMODCACHE=/tmp/mod
cpu() { awk '{print $14+$15+$16+$17}' /proc/$$/stat; }  # utime stime cutime cstime, in clock ticks
tick=$(getconf CLK_TCK)
t0=$(date +%s%N); c0=$(cpu)
std="$(GOPROXY=off go list -e -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' ./cmd/flamenco-worker ./cmd/flamenco-manager 2>/dev/null)"
GOPROXY=off go build $std & p=$!
GOMAXPROCS=8 go list -deps ./cmd/flamenco-worker ./cmd/flamenco-manager >/dev/null 2>&1
wait $p
d=$(mktemp -d); go build -o $d/ ./cmd/flamenco-worker ./cmd/flamenco-manager
t1=$(date +%s%N); c1=$(cpu)
echo "go-build: wall $(( (t1-t0)/1000000 )) ms, cpu $(( (c1-c0)*1000/tick )) ms"
echo "changed $(date +%N)" > web/static/probe.txt  # what app changes: the embedded web/static
go build -o $d/ ./cmd/flamenco-manager
t2=$(date +%s%N); c2=$(cpu)
echo "app: wall $(( (t2-t1)/1000000 )) ms, cpu $(( (c2-c1)*1000/tick )) ms"
