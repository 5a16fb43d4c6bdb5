#!/bin/bash
# Inside the runtime image: the worker image's FFmpeg install.
set -e
cpu() { awk '{print $14+$15+$16+$17}' /proc/$$/stat; }
tick=$(getconf CLK_TCK); t0=$(date +%s%N); c0=$(cpu)
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends ffmpeg >/dev/null
t1=$(date +%s%N); c1=$(cpu)
echo "ffmpeg: wall $(( (t1-t0)/1000000 )) ms, cpu $(( (c1-c0)*1000/tick )) ms"
