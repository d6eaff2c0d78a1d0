#!/usr/bin/env bash
# Overload: offer 3× the sustainable rate and check that the server sheds load with
# 429 + Retry-After (no 5xx, no timeouts), keeps memory bounded, keeps storing what it
# acknowledges (read-API check), and keeps its goodput near the sustainable rate.
#
# The sustainable rate is measured first with a 10,000-event burst unless --sustainable is
# given. The overload phase tries each event once at its scheduled time (--no-retry), so the
# offered rate really is 3× (a retrying client would slow itself down).
#
# The server sheds load only when its queue is full, i.e. when more events are in flight than
# ERRATA_QUEUE_CAPACITY (default 5,000). Every connection holds one event until it is
# committed, so the generator needs more connections than the queue holds: this script runs
# the server with ERRATA_QUEUE_CAPACITY=256 (override in the environment) and 1,024
# connections. With the default capacity, 5,000 connections would be needed and requests wait
# up to capacity / commit rate (~2.5 s here) before the first 429.
#
#   bench/overload.sh [--sustainable R] [--factor 3] [--duration 60] [--concurrency 1024]
#                     [--rss-limit-mb 400] [--debug] [-- extra errata-bench flags]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SUSTAINABLE="" FACTOR=3 DURATION=60 CONCURRENCY=1024 RSS_LIMIT=400 EXTRA=()
QUEUE="${ERRATA_QUEUE_CAPACITY:-256}"
while [ $# -gt 0 ]; do
  case "$1" in
    --sustainable) SUSTAINABLE="$2"; shift 2 ;;
    --factor) FACTOR="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --rss-limit-mb) RSS_LIMIT="$2"; shift 2 ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done

bench_init
# All connections come from 127.0.0.1: let that one address take the whole queue, as this
# scenario measures overload, not the per-address share (bench/attack.sh does).
start_sqlite_server ERRATA_QUEUE_CAPACITY="$QUEUE" ERRATA_MAX_PER_ADDRESS="${ERRATA_MAX_PER_ADDRESS:-$QUEUE}"
sample_rss "$SERVER_PID" "$WORK/rss.txt"

if [ -z "$SUSTAINABLE" ]; then
  log "measuring the sustainable rate (10,000-event burst, 64 connections)"
  "$BENCH" --dsn "$DSN" --token "$TOKEN" --events 10000 --issues 1000 --concurrency 64 \
    --progress 0 >"$WORK/calibrate.json" || die "calibration run failed"
  SUSTAINABLE="$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["events_per_s"]))' "$WORK/calibrate.json")"
fi
OFFER=$(( SUSTAINABLE * FACTOR ))
T_OVERLOAD="$(awk 'END {print $1}' "$WORK/rss.txt" 2>/dev/null || echo 0)"
log "overload: offering $OFFER events/s (${FACTOR}× $SUSTAINABLE) for ${DURATION}s over $CONCURRENCY connections, queue $QUEUE"
rc=0
"$BENCH" --dsn "$DSN" --token "$TOKEN" --rate "$OFFER" --duration "$DURATION" --issues 1000 \
  --concurrency "$CONCURRENCY" --no-retry --progress 10 "${EXTRA[@]}" >"$WORK/bench.json" || rc=$?
[ -s "$WORK/bench.json" ] || die "errata-bench produced no report (exit $rc)"
sleep 1.5

python3 - "$WORK/bench.json" "$(rss_summary "$WORK/rss.txt" "${T_OVERLOAD:-0}" 1e9)" \
  "$SUSTAINABLE" "$OFFER" "$RSS_LIMIT" "$(machine_json)" "$rc" "$QUEUE" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
rss = json.loads(sys.argv[2])
sustainable, offer, limit, rc = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[7])
rejected = bench["rejected"]
problems = []
if rc != 0:
    problems.append(f"errata-bench exited {rc}")
if rejected.get("429", 0) == 0:
    problems.append("no 429 at all while overloaded")
if bench["missing_retry_after"]:
    problems.append(f"{bench['missing_retry_after']} answers 429 without Retry-After")
other = {k: v for k, v in rejected.items() if k != "429"}
if other:
    problems.append(f"rejections other than 429: {other}")
if rss.get("max_mb", 0) > limit:
    problems.append(f"server RSS {rss['max_mb']} MB over the {limit} MB limit")
offered = bench["sent"] / bench["elapsed_s"] if bench["elapsed_s"] else 0
print(json.dumps({
    "scenario": "overload",
    "machine": json.loads(sys.argv[6]),
    "sustainable_rate": sustainable,
    "queue_capacity": int(sys.argv[8]),
    "offered_rate_target": offer,
    "offered_rate_actual": round(offered, 1),
    "goodput": bench["events_per_s"],
    "goodput_vs_sustainable": round(bench["events_per_s"] / sustainable, 3) if sustainable else None,
    "share_429": round(rejected.get("429", 0) / bench["sent"], 3) if bench["sent"] else None,
    "server_rss_during_overload": rss,
    "ok": not problems,
    "problems": problems,
    "bench": bench,
}, indent=2))
sys.exit(0 if not problems else 1)
PY
