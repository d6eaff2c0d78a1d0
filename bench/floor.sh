#!/usr/bin/env bash
# The floor: what rate this machine allows before Errata does any of its own work. The
# generator drives `errata-floor` (bench/src/bin/floor.rs), a bare axum envelope endpoint, at
# each stage in turn (every one reads the body and the envelope header first):
#   http               nothing more: read the body, answer with the id
#   compress           + zstd level 1 of the raw event item
#   parse              + the event parsed into a serde_json::Value tree and dropped
#   encode             + that tree serialized again and compressed (zstd 1), as Errata stores it
#   parse-serde        + serde_json::Value tree, then the fields a tracker needs read from it
#   parse-raw          + serde_json top level as HashMap<&str, &RawValue>, needed fields typed
#   parse-typed        + serde_json straight into a struct of the needed fields (rest skipped)
#   parse-sonic        + sonic_rs::Value tree, needed fields read from it
#   parse-sonic-lazy   + sonic-rs lazy object iterator, needed fields typed from their raw text
#   parse-sonic-typed  + sonic-rs straight into the struct of the needed fields
#   parse-simd         + simd_json::BorrowedValue of a copy, needed fields read from it
#   parse-simd-typed   + simd-json straight into the struct, from a copy
#   zstd-fast1/3/5     + zstd at levels -1, -3, -5 of the raw event item
#   lz4                + LZ4 block (lz4_flex) of the raw event item
#   zstd-dict          + zstd 1 with a 16 KiB dictionary trained at the floor's start-up on 300
#                      generated events (other issues, seed and run tag than the generator's)
#   best               the fastest reader of the needed fields + the fastest codec keeping >= 3x
# Per stage: events/s, p99, the CPU per event of the endpoint and of the generator (which share
# the machine), and for the compressing stages the ratio raw / compressed over the events the
# endpoint saw (its GET /stats).
#
#   bench/floor.sh [--events 100000] [--concurrency 64] [--stages a,b,c] [--self-test] [--debug]
#                  [-- extra errata-bench flags]
# --self-test adds `errata-floor --self-test` (every reader and codec timed without HTTP over 500
# generated events, one thread) to the report. Prints one JSON object, and one line per stage on
# stderr. Nothing is stored, so the generator's read-API check is off.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ALL_STAGES=http,compress,parse,encode,parse-serde,parse-raw,parse-typed,parse-sonic,parse-sonic-lazy,parse-sonic-typed,parse-simd,parse-simd-typed,zstd-fast1,zstd-fast3,zstd-fast5,lz4,zstd-dict,best
EVENTS=100000 CONCURRENCY=64 STAGES="$ALL_STAGES" SELF_TEST=0 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --stages) STAGES="$2"; shift 2 ;;
    --self-test) SELF_TEST=1; shift ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done
IFS=, read -r -a STAGE_LIST <<<"$STAGES"
for stage in "${STAGE_LIST[@]}"; do
  [[ ",$ALL_STAGES," == *",$stage,"* ]] || die "unknown stage $stage (stages: $ALL_STAGES)"
done

# A debug generator renders its 2,000 templates in ~5 s, once per stage: CI's small run uses
# 100 issues (200 templates) unless told otherwise.
if [ "$PROFILE" = dev ] && [[ " ${EXTRA[*]:-} " != *" --issues "* ]]; then EXTRA+=(--issues 100); fi

BENCH_ONLY=1 bench_init
FLOOR="$(dirname "$BENCH")/errata-floor"
[ -x "$FLOOR" ] || die "$FLOOR not found"

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { cut -d')' -f2- "/proc/$1/stat" | awk '{print $12 + $13}'; }

for stage in "${STAGE_LIST[@]}"; do
  port="$(free_port)"
  "$FLOOR" --stage "$stage" --listen "127.0.0.1:$port" 2>>"$WORK/floor.log" &
  pid=$!
  PIDS+=("$pid")
  # zstd-dict and best train their dictionary first: seconds in a debug build.
  up=0
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      up=1; break
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/floor.log" >&2; die "errata-floor exited on stage $stage"; }
    sleep 0.1
  done
  [ "$up" = 1 ] || die "errata-floor not up after 30 s on stage $stage"
  log "floor: stage $stage, $EVENTS events, $CONCURRENCY connections"
  t0="$(cpu_ticks "$pid")"
  "$BENCH" --dsn "http://floor@127.0.0.1:$port/1" --no-verify --events "$EVENTS" \
    --concurrency "$CONCURRENCY" --progress 0 "${EXTRA[@]}" >"$WORK/$stage.json" \
    || die "errata-bench failed on stage $stage"
  echo "$(( $(cpu_ticks "$pid") - t0 ))" >"$WORK/$stage.ticks"
  curl -fsS --max-time 5 "http://127.0.0.1:$port/stats" >"$WORK/$stage.stats" \
    || die "no /stats from stage $stage"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
done

if [ "$SELF_TEST" = 1 ]; then
  log "floor: self-test (no HTTP)"
  "$FLOOR" --self-test >"$WORK/self-test.json" 2>>"$WORK/floor.log" || die "self-test failed"
else
  echo null >"$WORK/self-test.json"
fi

python3 - "$WORK" "$(getconf CLK_TCK)" "$(machine_json)" "$STAGES" <<'PY'
import json, sys
work, hz, stage_list = sys.argv[1], int(sys.argv[2]), sys.argv[4].split(",")
stages = {}
for stage in stage_list:
    b = json.load(open(f"{work}/{stage}.json"))
    n = max(b["accepted"], 1)
    server_s = int(open(f"{work}/{stage}.ticks").read()) / hz
    stats = json.load(open(f"{work}/{stage}.stats"))
    s = {
        "events_per_s": b["events_per_s"],
        "latency_p99_ms": b["latency_ms"]["p99"],
        "accepted": b["accepted"],
        "endpoint_cpu_us_per_event": round(server_s * 1e6 / n, 1),
        "generator_cpu_us_per_event": round(b["client_cpu_s"] * 1e6 / n, 1),
    }
    if stats.get("ratio") is not None:
        s["ratio"] = stats["ratio"]
    stages[stage] = s
    ratio = f"  ratio {s['ratio']:.2f}x" if "ratio" in s else ""
    print(f"{stage:>18}: {s['events_per_s']:>9,.0f}/s  p99 {s['latency_p99_ms']:>6.1f} ms  "
          f"endpoint {s['endpoint_cpu_us_per_event']:>6.1f} us  "
          f"generator {s['generator_cpu_us_per_event']:>5.1f} us{ratio}", file=sys.stderr)
out = {"scenario": "floor", "machine": json.loads(sys.argv[3]),
       "payload_bytes": b["payload_bytes"], "stages": stages}
self_test = json.load(open(f"{work}/self-test.json"))
if self_test is not None:
    out["self_test"] = self_test
print(json.dumps(out, indent=2))
PY
