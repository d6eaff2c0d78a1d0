#!/usr/bin/env bash
# Idle footprint: server RSS with an empty database after start-up, and again after a small
# load (default 5,000 events) once it has been idle for a while. 30 one-second samples each.
#
#   bench/idle.sh [--events 5000] [--settle 10] [--debug]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=5000 SETTLE=10 SAMPLES=30
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --samples) SAMPLES="$2"; shift 2 ;;
    --debug) PROFILE=dev; shift ;;
    *) die "unknown argument $1" ;;
  esac
done

bench_init
start_sqlite_server

sample_window() { # FILE: SAMPLES one-second RSS samples of the server
  local i
  for i in $(seq 1 "$SAMPLES"); do
    awk '/^VmRSS:/ {print '"$i"', $2}' "/proc/$SERVER_PID/status" >>"$1"
    sleep 1
  done
}

log "idle: settling ${SETTLE}s, then $SAMPLES samples"
sleep "$SETTLE"
sample_window "$WORK/idle_empty.txt"
log "loading $EVENTS events"
"$BENCH" --dsn "$DSN" --token "$TOKEN" --events "$EVENTS" --issues 200 --concurrency 16 \
  --progress 0 >"$WORK/bench.json"
PEAK="$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")"
log "settling ${SETTLE}s after the load, then $SAMPLES samples"
sleep "$SETTLE"
sample_window "$WORK/idle_after.txt"

python3 - "$(rss_summary "$WORK/idle_empty.txt")" "$(rss_summary "$WORK/idle_after.txt")" \
  "$PEAK" "$WORK/bench.json" "$(machine_json)" <<'PY'
import json, sys
bench = json.load(open(sys.argv[4]))
print(json.dumps({
    "scenario": "idle",
    "machine": json.loads(sys.argv[5]),
    "idle_empty_db": json.loads(sys.argv[1]),
    "idle_after_load": json.loads(sys.argv[2]),
    "peak_rss_during_load_mb": round(int(sys.argv[3]) / 1024, 1),
    "load": {k: bench[k] for k in ("accepted", "events_per_s", "verify")},
}, indent=2))
PY
