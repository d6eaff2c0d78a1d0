#!/usr/bin/env bash
# PostgreSQL: two server processes behind one fresh database, the generator spreading its
# connections over both (as a load balancer would); RSS of both sampled every second.
# Default: the burst (N=200,000, K=1,000, C=64); `--rate R --duration S` for a steady run.
#
#   bench/postgres.sh [--events 200000] [--issues 1000] [--concurrency 64] [--rate R]
#                     [--duration S] [--gzip] [--debug] [-- extra errata-bench flags]
# PostgreSQL: ERRATA_BENCH_PG (default postgres://postgres@127.0.0.1:5432); a database
# errata_bench_<random> is created and dropped afterwards. The cap per issue is off unless
# ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE is set.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=200000 ISSUES=1000 CONCURRENCY=64 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --issues) ISSUES="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --rate) EXTRA+=(--rate "$2"); shift 2 ;;
    --duration) EXTRA+=(--duration "$2"); EVENTS=""; shift 2 ;;
    --gzip) EXTRA+=(--gzip); shift ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done

PG="${ERRATA_BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
bench_init
DBNAME="errata_bench_$(date +%s)_$RANDOM"
psql "$PG/postgres" -qAtc "create database $DBNAME" >/dev/null || die "cannot create database $DBNAME"
PG_DROP_DB="$DBNAME"
DB="$PG/$DBNAME"

PORT1="$(free_port)"
start_server server1 "$DB" "$PORT1"
PID1="$SERVER_PID"
DSN="$(dsn_from_output server1)"
PORT2="$(free_port)"
start_server server2 "$DB" "$PORT2"
PID2="$SERVER_PID"
TOKEN="$(make_token "$DB")"
sample_rss "$PID1" "$WORK/rss1.txt"
sample_rss "$PID2" "$WORK/rss2.txt"

N_ARGS=()
if [ -n "$EVENTS" ]; then N_ARGS=(--events "$EVENTS"); fi
log "postgres: ${EVENTS:-timed} events, $ISSUES issues, $CONCURRENCY connections over 2 servers"
rc=0
"$BENCH" --dsn "$DSN" --also "http://127.0.0.1:$PORT2" --token "$TOKEN" "${N_ARGS[@]}" \
  --issues "$ISSUES" --concurrency "$CONCURRENCY" "${EXTRA[@]}" >"$WORK/bench.json" || rc=$?
[ -s "$WORK/bench.json" ] || die "errata-bench produced no report (exit $rc)"
sleep 1.5

python3 - "$WORK/bench.json" "$(rss_summary "$WORK/rss1.txt")" "$(rss_summary "$WORK/rss2.txt")" \
  "$(machine_json)" "$(psql "$DB" -qAtc "select pg_database_size(current_database())")" \
  "$(metrics_summary "$PORT1")" "$(metrics_summary "$PORT2")" <<'PY'
import json, sys
print(json.dumps({
    "scenario": "postgres-2-servers",
    "machine": json.loads(sys.argv[4]),
    "bench": json.load(open(sys.argv[1])),
    "server1_rss": json.loads(sys.argv[2]),
    "server2_rss": json.loads(sys.argv[3]),
    "database_mb": round(int(sys.argv[5]) / 1048576, 1),
    "server1_metrics": json.loads(sys.argv[6]),
    "server2_metrics": json.loads(sys.argv[7]),
}, indent=2))
PY
exit "$rc"
