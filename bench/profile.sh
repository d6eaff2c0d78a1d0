#!/usr/bin/env bash
# Profile the server during a burst: `perf record` (sampling, no call graphs unless
# --call-graph is given) on the server process while the generator runs, then the top symbols.
# Needs perf and kernel.perf_event_paranoid <= 2. Without perf, use valgrind instead:
#   valgrind --tool=callgrind target/release/errata serve   (50-100× slower; use a small N)
#
#   bench/profile.sh [--events 30000] [--issues 1000] [--concurrency 64] [--call-graph]
#                    [--debug] [-- extra errata-bench flags]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EVENTS=30000 ISSUES=1000 CONCURRENCY=64 CG=() EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --issues) ISSUES="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --call-graph) CG=(--call-graph dwarf,16384); shift ;;
    --debug) PROFILE=dev; shift ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done
command -v perf >/dev/null || die "perf is not installed"

bench_init
start_sqlite_server

perf record -q -F 499 "${CG[@]}" -o "$WORK/perf.data" -p "$SERVER_PID" 2>"$WORK/perf.log" &
PERF_PID=$!
PIDS+=("$PERF_PID")
read -r _ _ _ _ _ _ _ _ _ _ _ _ _ U0 S0 _ < <(cut -d')' -f2- "/proc/$SERVER_PID/stat" | sed 's/^/x x /')
rc=0
"$BENCH" --dsn "$DSN" --no-verify --events "$EVENTS" --issues "$ISSUES" \
  --concurrency "$CONCURRENCY" --progress 0 "${EXTRA[@]}" >"$WORK/bench.json" || rc=$?
read -r _ _ _ _ _ _ _ _ _ _ _ _ _ U1 S1 _ < <(cut -d')' -f2- "/proc/$SERVER_PID/stat" | sed 's/^/x x /')
kill -INT "$PERF_PID" 2>/dev/null || true
wait "$PERF_PID" 2>/dev/null || true
forget_pid "$PERF_PID"

python3 - "$WORK/bench.json" "$((U1 - U0))" "$((S1 - S0))" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
user, sys_ = int(sys.argv[2]) / 100, int(sys.argv[3]) / 100
print(json.dumps({
    "events_per_s": b["events_per_s"], "elapsed_s": b["elapsed_s"], "latency_ms": b["latency_ms"],
    "server_cpu_user_s": user, "server_cpu_sys_s": sys_,
    "server_cpu_ms_per_event": round((user + sys_) * 1000 / max(b["accepted"], 1), 3),
    "server_cores_busy": round((user + sys_) / b["elapsed_s"], 2),
    "client_cpu_s": b["client_cpu_s"],
}, indent=2))
PY
perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | head -n 60
exit "$rc"
