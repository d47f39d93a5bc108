#!/bin/bash
# Node 20 (host) vs Node 24 (Debian 13 root), same box, interleaved: standard fanout + rooms, --quick, shardcast-1
set -u
ROOT=/var/cache/shardcast-ci/trixie
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p $ROOT/project
mount --bind $PROJECT $ROOT/project
mount -t proc proc $ROOT/proc
trap 'umount $ROOT/proc; umount $ROOT/project' EXIT
for i in 1 2; do
  echo "=== round $i: node 20 (host)"
  (cd $PROJECT && node dist/bench/standard.js --quick --scenarios fanout,rooms --targets shardcast-1 --results none --json /tmp/n20-$i.json 2>&1 | tail -25)
  echo "=== round $i: node 24 (root)"
  chroot $ROOT /usr/bin/env -i PATH=/opt/node-24.22.3/bin:/usr/bin:/bin HOME=/tmp sh -c "cd /project && node dist/bench/standard.js --quick --scenarios fanout,rooms --targets shardcast-1 --results none --json /tmp/n24-$i.json 2>&1 | tail -25"
done
