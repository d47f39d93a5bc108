#!/bin/sh
# The main thread's share of the server's CPU, and the server's CPU per delivery, for two builds
# of Shardcast (--workers 1) and the single-thread uWS floor, in ONE run: every repeat runs each
# target once per load (rooms, fanout) before the next repeat starts, the order rotated, each run
# on a fresh server. One line per run (bench/RESULTS.md, "The main thread's share").
#
#   sh bench/main-thread-ab.sh BASE_DIR NEW_DIR [REPEATS=3] [DURATION=8s]
#   LOADS="rooms fanout serial latency" sh bench/main-thread-ab.sh ...   (default: rooms fanout)
#
# BASE_DIR and NEW_DIR are project roots with a build in dist/ (e.g. the commit before a change,
# from `git archive`, and this tree); the bench client and the floor come from NEW_DIR.
# main = CPU of the server's main thread (/proc/PID/task/PID/stat) ÷ the process's, first
# publish → end of drain, as the bench client reports it (server.mainThreadCpuShare).
set -eu
BASE=$1
NEW=$2
REPEATS=${3:-3}
DURATION=${4:-8s}
OUT=${OUT:-/tmp/main-thread-ab}
mkdir -p "$OUT"
LOADS=${LOADS:-rooms fanout}
ROOMS="--connections 5000 --channels 100 --ramp 2500 --inflight 64"
FANOUT="--connections 5000 --channels 1 --ramp 2500 --inflight 32"
# one HTTP publisher waiting for each answer (the case a nap must never slow down)
SERIAL="--connections 1000 --channels 100 --ramp 2500 --inflight 1"
# the standard latency scenario: paced, 100 publications/s
LATENCY="--connections 1000 --channels 10 --ramp 2500 --rate 100"

serve() { # target port (exec: $! is the server itself, whose main thread /proc is read)
  case $1 in
    floor) exec node "$NEW/dist/bench/baselines/uws-floor.js" --host 127.0.0.1 --port "$2" --api-key bench-key ;;
    base) exec node "$BASE/dist/src/cli.js" serve --host 127.0.0.1 --port "$2" --workers 1 --api-key bench-key --log-level warn ;;
    new) exec node "$NEW/dist/src/cli.js" serve --host 127.0.0.1 --port "$2" --workers 1 --api-key bench-key --log-level warn ;;
  esac
}

port=19700
for r in $(seq 1 "$REPEATS"); do
  case $((r % 3)) in 1) order="base new floor" ;; 2) order="new floor base" ;; *) order="floor base new" ;; esac
  for load in $LOADS; do
    case $load in rooms) flags=$ROOMS ;; fanout) flags=$FANOUT ;; serial) flags=$SERIAL ;; latency) flags=$LATENCY ;; *) echo "unknown load $load" >&2; exit 2 ;; esac
    for t in $order; do
      port=$((port + 1))
      serve $t $port >"$OUT/server-$port.log" 2>&1 &
      spid=$!
      i=0
      until curl -s -o /dev/null "http://127.0.0.1:$port/api/stats" -H 'authorization: Bearer bench-key' || [ $i -ge 100 ]; do i=$((i + 1)); sleep 0.1; done
      loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
      # shellcheck disable=SC2086
      node "$NEW/dist/src/cli.js" bench "ws://127.0.0.1:$port/ws" $flags --size 128 --duration "$DURATION" --drain 30s \
        --api-key bench-key --server-pid $spid --json "$OUT/$load-$t-$r.json" >"$OUT/bench-$port.log" 2>&1 || true
      kill -TERM $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
      node -e '
        const [file, load, t, r, la] = process.argv.slice(1);
        const j = JSON.parse(require("fs").readFileSync(file, "utf8"));
        const s = j.server ?? {};
        const main = t === "floor" ? "-" : (100 * s.mainThreadCpuShare).toFixed(1) + "%";
        console.log([load, t, "repeat " + r, "main " + main, "cpu/delivery " + (s.cpuMicrosPer1kDeliveries / 1000).toFixed(2) + " us",
          Math.round(j.deliveries.perSecond) + " deliveries/s", j.publishes.accepted + " publishes", "lost " + j.deliveries.lost,
          "p50 " + j.latency.p50 + " ms", "p99 " + j.latency.p99 + " ms",
          "client " + Math.round(100 * j.client.maxThreadUtilization) + "%", "load " + la].join(" | "));
      ' "$OUT/$load-$t-$r.json" $load $t "$r" "$loadavg" || echo "$load $t repeat $r: FAILED (see $OUT/bench-$port.log)"
      sleep 1
    done
  done
done
