#!/usr/bin/env bash
# Retention: the cap per issue under full load (issue #14's benchmark).
#
# Three fresh SQLite servers, one after the other on the same machine:
#   1. without pruning (retention off): N events into K issues, as fast as acknowledged;
#   2. with `max_events_per_issue = CAP` and the scheduled pruning passes running during
#      the same load; afterwards one exact pass (`errata retention run`) with the server
#      stopped, then the events kept and the file's size;
#   3. a reference that only ever held the kept events (that many events, same generator,
#      no pruning), and its file's size.
# Criteria: events kept <= CAP*K + K; the pruned file within 20 % of the reference; the
# ingest rate with pruning at least 80 % of the rate without.
#
#   bench/retention.sh [--events 1000000] [--issues 1000] [--cap 100] [--concurrency 64]
#                      [--debug]
# Prints one JSON object; exits non-zero when the events kept exceed the cap.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=1000000 ISSUES=1000 CAP=100 CONCURRENCY=64
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --issues) ISSUES="$2"; shift 2 ;;
    --cap) CAP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --debug) PROFILE=dev; shift ;;
    *) die "unknown argument $1" ;;
  esac
done

bench_init

# run NAME EVENTS [VAR=value ...]: a fresh server on $WORK/NAME/errata.db, EVENTS events
# (uniform over the issues), stopped gracefully afterwards; the report in $WORK/NAME.json.
run() {
  local name="$1" events="$2"
  shift 2
  mkdir -p "$WORK/$name"
  local port db
  port="$(free_port)"
  db="sqlite://$WORK/$name/errata.db"
  start_server "$name" "$db" "$port" "$@"
  local dsn
  dsn="$(dsn_from_output "$name")"
  log "$name: $events events, $ISSUES issues, $CONCURRENCY connections"
  "$BENCH" --dsn "$dsn" --events "$events" --issues "$ISSUES" --concurrency "$CONCURRENCY" \
    --zipf 0 --no-verify --seed 7 >"$WORK/$name.json" || die "$name: errata-bench failed"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  forget_pid "$SERVER_PID"
}

# file_bytes NAME: the database file and its WAL after a checkpoint that empties the WAL
# (the command line's pass may exit with its changes still in the WAL), bytes.
file_bytes() {
  python3 - "$WORK/$1/errata.db" <<'PY'
import os, sqlite3, sys
path = sys.argv[1]
conn = sqlite3.connect(path)
conn.execute("pragma wal_checkpoint(truncate)").fetchall()
conn.close()
print(sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p)))
PY
}

OFF=(ERRATA_RETENTION_DAYS=0 ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE=0)
run without "$EVENTS" "${OFF[@]}"
run pruned "$EVENTS" ERRATA_RETENTION_DAYS=0 "ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE=$CAP"
log "pruned: one exact pass with the server stopped"
PRUNED_DB="sqlite://$WORK/pruned/errata.db"
DATABASE_URL="$PRUNED_DB" RUST_LOG=warn ERRATA_RETENTION_DAYS=0 \
  ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE="$CAP" "$ERRATA" retention run >"$WORK/final-pass.txt" \
  2>>"$WORK/cli.log" || die "retention run failed"
DATABASE_URL="$PRUNED_DB" RUST_LOG=warn ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE="$CAP" \
  "$ERRATA" retention status >"$WORK/status.txt" \
  2>>"$WORK/cli.log" || die "retention status failed"
KEPT="$(awk '/^events kept:/ {print $3}' "$WORK/status.txt")"
[ -n "$KEPT" ] || die "no events count in: $(cat "$WORK/status.txt")"
run reference "$KEPT" "${OFF[@]}"

python3 - "$WORK" "$EVENTS" "$ISSUES" "$CAP" "$KEPT" "$(file_bytes pruned)" \
  "$(file_bytes reference)" "$(machine_json)" <<'PY'
import json, sys
work, events, issues, cap, kept, pruned_b, ref_b = sys.argv[1], *map(int, sys.argv[2:8])
machine = json.loads(sys.argv[8])
rate = lambda name: json.load(open(f"{work}/{name}.json"))["events_per_s"]
without, pruned = rate("without"), rate("pruned")
limit = cap * issues + issues
out = {
    "scenario": "retention",
    "machine": machine,
    "events": events, "issues": issues, "max_events_per_issue": cap,
    "events_kept": kept, "events_kept_limit": limit, "kept_ok": kept <= limit,
    "file_bytes_pruned": pruned_b, "file_bytes_reference": ref_b,
    "file_ratio": round(pruned_b / ref_b, 3) if ref_b else None,
    "file_ok": ref_b > 0 and pruned_b <= 1.2 * ref_b,
    "events_per_s_without_pruning": without, "events_per_s_with_pruning": pruned,
    "rate_ratio": round(pruned / without, 3) if without else None,
    "rate_ok": without > 0 and pruned >= 0.8 * without,
    "final_pass": open(f"{work}/final-pass.txt").read().strip(),
}
print(json.dumps(out, indent=2))
sys.exit(0 if out["kept_ok"] else 1)
PY
