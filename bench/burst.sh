#!/usr/bin/env bash
# Burst: N events for K issues over C connections as fast as the server acknowledges them,
# against one server on a fresh SQLite database; server RSS sampled every second; afterwards
# the generator checks through the read API that what was acknowledged was stored.
#
#   bench/burst.sh [--events 200000] [--issues 1000] [--concurrency 64] [--gzip] [--debug]
#                  [-- extra errata-bench flags]
# Server tuning passes through the environment (ERRATA_QUEUE_CAPACITY, ERRATA_BATCH_SIZE); the
# cap per issue is off unless ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE is set.
# Prints one JSON object; exits non-zero when the generator reports a mismatch.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=200000 ISSUES=1000 CONCURRENCY=64 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --issues) ISSUES="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --gzip) EXTRA+=(--gzip); shift ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done

bench_init
start_sqlite_server
sample_rss "$SERVER_PID" "$WORK/rss.txt"
RSS_IDLE="$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")"

log "burst: $EVENTS events, $ISSUES issues, $CONCURRENCY connections -> $DSN"
CPU_BEFORE="$(cpu_ticks "$SERVER_PID")"
rc=0
"$BENCH" --dsn "$DSN" --token "$TOKEN" --events "$EVENTS" --issues "$ISSUES" \
  --concurrency "$CONCURRENCY" "${EXTRA[@]}" >"$WORK/bench.json" || rc=$?
[ -s "$WORK/bench.json" ] || die "errata-bench produced no report (exit $rc)"
CPU_AFTER="$(cpu_ticks "$SERVER_PID")"
sleep 1.5 # one more RSS sample after the load
METRICS="$(metrics_summary "$PORT")"

python3 - "$WORK/bench.json" "$(rss_summary "$WORK/rss.txt")" "$RSS_IDLE" "$(machine_json)" \
  "$(du -sk "$WORK/db" | cut -f1)" "$METRICS" "$((CPU_AFTER - CPU_BEFORE))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
cpu_s = int(sys.argv[7]) / int(sys.argv[8])
stored = bench.get("accepted") or 0
print(json.dumps({
    "scenario": "burst",
    "machine": json.loads(sys.argv[4]),
    "bench": bench,
    "server_rss": {"before_load_mb": round(int(sys.argv[3]) / 1024, 1), **json.loads(sys.argv[2])},
    "database_mb": round(int(sys.argv[5]) / 1024, 1),
    "server_cpu_s": round(cpu_s, 2),
    "server_cpu_us_per_event": round(cpu_s * 1e6 / stored, 1) if stored else None,
    "server_metrics": json.loads(sys.argv[6]),
}, indent=2))
PY
exit "$rc"
