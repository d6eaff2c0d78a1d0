#!/usr/bin/env bash
# The floor: what rate this machine allows before Errata does any of its own work. The
# generator drives `errata-floor` (bench/src/bin/floor.rs), a bare axum envelope endpoint, at
# each stage in turn: `http` (read the body, answer with the id), `compress` (+ zstd level 1 of
# the raw event item), `parse` (+ the event parsed into a serde_json tree and dropped) and
# `encode` (+ that tree serialized and compressed, as Errata stores it). Per stage: events/s,
# p99, and the CPU per event of the endpoint and of the generator, which share the machine.
#
#   bench/floor.sh [--events 100000] [--concurrency 64] [--debug] [-- extra errata-bench flags]
# Prints one JSON object. Nothing is stored, so the generator's read-API check is off.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=100000 CONCURRENCY=64 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done

bench_init
FLOOR="$(dirname "$BENCH")/errata-floor"
[ -x "$FLOOR" ] || die "$FLOOR not found"

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { cut -d')' -f2- "/proc/$1/stat" | awk '{print $12 + $13}'; }

for stage in http compress parse encode; do
  port="$(free_port)"
  "$FLOOR" --stage "$stage" --listen "127.0.0.1:$port" 2>>"$WORK/floor.log" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.1
  done
  log "floor: stage $stage, $EVENTS events, $CONCURRENCY connections"
  t0="$(cpu_ticks "$pid")"
  "$BENCH" --dsn "http://floor@127.0.0.1:$port/1" --no-verify --events "$EVENTS" \
    --concurrency "$CONCURRENCY" --progress 0 "${EXTRA[@]}" >"$WORK/$stage.json" \
    || die "errata-bench failed on stage $stage"
  echo "$(( $(cpu_ticks "$pid") - t0 ))" >"$WORK/$stage.ticks"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
done

python3 - "$WORK" "$(getconf CLK_TCK)" "$(machine_json)" <<'PY'
import json, sys
work, hz = sys.argv[1], int(sys.argv[2])
stages = {}
for stage in ["http", "compress", "parse", "encode"]:
    b = json.load(open(f"{work}/{stage}.json"))
    n = max(b["accepted"], 1)
    server_s = int(open(f"{work}/{stage}.ticks").read()) / hz
    stages[stage] = {
        "events_per_s": b["events_per_s"],
        "latency_p99_ms": b["latency_ms"]["p99"],
        "accepted": b["accepted"],
        "endpoint_cpu_us_per_event": round(server_s * 1e6 / n, 1),
        "generator_cpu_us_per_event": round(b["client_cpu_s"] * 1e6 / n, 1),
    }
print(json.dumps({"scenario": "floor", "machine": json.loads(sys.argv[3]),
                  "payload_bytes": b["payload_bytes"], "stages": stages}, indent=2))
PY
