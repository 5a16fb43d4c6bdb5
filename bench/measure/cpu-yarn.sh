#!/bin/bash
# Inside the Node image, /src = a Flamenco checkout: yarn install and yarn build, fresh yarn cache.
set -e
cp -r /src/web/app /w && cd /w
cpu() { awk '{print $14+$15+$16+$17}' /proc/$$/stat; }
tick=$(getconf CLK_TCK); t0=$(date +%s%N); c0=$(cpu)
YARN_CACHE_FOLDER=/tmp/yc yarn install --frozen-lockfile --non-interactive --network-timeout 120000 >/dev/null 2>&1
t1=$(date +%s%N); c1=$(cpu)
echo "yarn install: wall $(( (t1-t0)/1000000 )) ms, cpu $(( (c1-c0)*1000/tick )) ms"
yarn build --outDir /tmp/static --base=/app/ --logLevel warn >/dev/null 2>&1
t2=$(date +%s%N); c2=$(cpu)
echo "yarn build: wall $(( (t2-t1)/1000000 )) ms, cpu $(( (c2-c1)*1000/tick )) ms"
