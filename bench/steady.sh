#!/usr/bin/env bash
# Steady: a fixed rate for a fixed time (default 1,000 events/s for 10 minutes) against one
# server on SQLite, server RSS sampled every second. Memory should be flat: the report gives
# min/max/mean, the first and last minute's average and a least-squares slope (MB/min).
#
#   bench/steady.sh [--rate 1000] [--duration 600] [--issues 1000] [--concurrency 64]
#                   [--gzip] [--debug] [-- extra errata-bench flags]
# The cap per issue is off unless ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE is set (lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RATE=1000 DURATION=600 ISSUES=1000 CONCURRENCY=64 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
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

log "steady: $RATE events/s for ${DURATION}s, $ISSUES issues, $CONCURRENCY connections"
rc=0
"$BENCH" --dsn "$DSN" --token "$TOKEN" --rate "$RATE" --duration "$DURATION" \
  --issues "$ISSUES" --concurrency "$CONCURRENCY" --progress 30 "${EXTRA[@]}" \
  >"$WORK/bench.json" || rc=$?
[ -s "$WORK/bench.json" ] || die "errata-bench produced no report (exit $rc)"
sleep 1.5
METRICS="$(metrics_summary "$PORT")"

# Skip the first 10 s (warm-up: connection pool, SQLite page cache) for the flatness figures.
python3 - "$WORK/bench.json" "$(rss_summary "$WORK/rss.txt")" \
  "$(rss_summary "$WORK/rss.txt" 10 1e9)" "$(machine_json)" "$METRICS" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
print(json.dumps({
    "scenario": "steady",
    "machine": json.loads(sys.argv[4]),
    "bench": bench,
    "server_rss": json.loads(sys.argv[2]),
    "server_rss_after_warmup": json.loads(sys.argv[3]),
    "server_metrics": json.loads(sys.argv[5]),
}, indent=2))
PY
if [ -n "${ERRATA_BENCH_RSS_OUT:-}" ]; then cp "$WORK/rss.txt" "$ERRATA_BENCH_RSS_OUT"; fi
exit "$rc"
