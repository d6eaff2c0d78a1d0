#!/usr/bin/env bash
# Attacks (issue #24, items 1-3): how well-behaved ingestion fares while slow clients, bombs
# and very large events hit the same server. For each attack: the generator's rate alone
# (--events over --concurrency connections from 127.0.0.1), then again while the attack runs
# from 127.0.0.2 (bench/attack.py), with /healthz probed from 127.0.0.3 (by a process of its
# own, as an orchestrator's probe: not by the attackers' busy event loop) and the server's RSS
# sampled every second.
#
#   bench/attack.sh [--attacks slowloris,slowloris-keyed,headers,bombs,bombs-keyed,big]
#                   [--connections 1000] [--bombs 32] [--big 2000] [--big-bytes 800000]
#                   [--events 20000] [--concurrency 16] [--every 3] [--min-ratio 0.9]
#                   [--max-rss-mb N] [--max-healthz-ms N] [--debug]
#
# Sizes default to the issue's: 1,000 slow connections (no key, Content-Length 100000, one
# byte every 3 s), 32 bombs at once, 2,000 connections sending ~800 KB events. Checks: the
# rate during a slow-client attack is at least --min-ratio (90 %) of the rate alone; no 5xx
# reaches anyone; every event the generator had acknowledged is stored. Small debug runs (CI)
# pass --min-ratio 0: a few seconds of a debug build on a shared machine say nothing of rates.
# --max-rss-mb and --max-healthz-ms (off unless given) check that the server's RSS and the
# /healthz p99 stay under those during every attack: with a small ERRATA_MAX_BYTES_IN_FLIGHT,
# that memory is bounded by the budget and /healthz never waits behind ingestion. Server
# settings pass through the environment (ERRATA_QUEUE_CAPACITY, ERRATA_MAX_BYTES_IN_FLIGHT,
# ...). Prints one JSON object.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ATTACKS="slowloris,slowloris-keyed,headers,bombs,bombs-keyed,big"
CONNECTIONS=1000 BOMBS=32 BIG=2000 BIG_BYTES=800000 EVENTS=20000 CONCURRENCY=16 EVERY=3
MIN_RATIO=0.9 MAX_RSS_MB=0 MAX_HEALTHZ_MS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --attacks) ATTACKS="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --bombs) BOMBS="$2"; shift 2 ;;
    --big) BIG="$2"; shift 2 ;;
    --big-bytes) BIG_BYTES="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --every) EVERY="$2"; shift 2 ;;
    --min-ratio) MIN_RATIO="$2"; shift 2 ;;
    --max-rss-mb) MAX_RSS_MB="$2"; shift 2 ;;
    --max-healthz-ms) MAX_HEALTHZ_MS="$2"; shift 2 ;;
    --debug) PROFILE=dev; shift ;;
    *) die "unknown argument $1" ;;
  esac
done

# Thousands of connections on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# The test venv's Python has brotli for the bombs; the system's makes gzip bombs.
PYTHON=python3
if [ -x "$ROOT/.venv/bin/python" ] && "$ROOT/.venv/bin/python" -c 'import brotli' 2>/dev/null; then
  PYTHON="$ROOT/.venv/bin/python"
fi

bench_init
start_sqlite_server
sample_rss "$SERVER_PID" "$WORK/rss.txt"
# The attackers' keyed requests go to a project of their own, so that the generator's
# check of what it stored counts only its own events.
ATTACK_DSN="$(DATABASE_URL="$DB" RUST_LOG=error "$ERRATA" project create attackers 2>>"$WORK/cli.log" | tail -n1)"
KEY="$(sed -E 's#^https?://([^@]+)@.*#\1#' <<<"$ATTACK_DSN")"
PROJECT="${ATTACK_DSN##*/}"

# run_bench NAME: the generator's burst; its report in $WORK/NAME.json.
run_bench() {
  local rc=0
  "$BENCH" --dsn "$DSN" --token "$TOKEN" --events "$EVENTS" --issues 100 \
    --concurrency "$CONCURRENCY" --progress 0 --verify-sample 200 >"$WORK/$1.json" || rc=$?
  [ -s "$WORK/$1.json" ] || die "errata-bench produced no report for $1 (exit $rc)"
  return "$rc"
}

now_s() { awk 'END {print $1}' "$WORK/rss.txt" 2>/dev/null || echo 0; }

log "alone: $EVENTS events over $CONCURRENCY connections"
rc=0
run_bench alone || rc=$?
RESULTS=()
IFS=, read -r -a KINDS <<<"$ATTACKS"
for kind in "${KINDS[@]}"; do
  case "$kind" in
    bombs|bombs-keyed) n="$BOMBS" ;;
    big) n="$BIG" ;;
    *) n="$CONNECTIONS" ;;
  esac
  log "attack $kind: $n connections, then $EVENTS events over $CONCURRENCY connections"
  rm -f "$WORK/ready"
  "$PYTHON" "$BENCH_DIR/attack.py" --port "$PORT" --project "$PROJECT" --key "$KEY" \
    --kind "$kind" --connections "$n" --every "$EVERY" --big-bytes "$BIG_BYTES" \
    --report "$WORK/attack-$kind.json" --ready "$WORK/ready" 2>>"$WORK/attack.log" &
  ATTACK_PID=$!
  PIDS+=("$ATTACK_PID")
  for _ in $(seq 1 600); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
  [ -e "$WORK/ready" ] || die "attack $kind did not start"
  # Let the attack reach its steady state (every slow connection open and trickling).
  sleep "$(python3 -c "print(max(2.0, float('$EVERY') + 1))")"
  t0="$(now_s)"
  run_bench "under-$kind" || rc=$?
  t1="$(now_s)"
  kill -TERM "$ATTACK_PID" 2>/dev/null || true
  wait "$ATTACK_PID" 2>/dev/null || true
  forget_pid "$ATTACK_PID"
  RESULTS+=("$kind:$t0:$t1")
done
METRICS="$(metrics_summary "$PORT")"

python3 - "$WORK" "$(machine_json)" "$METRICS" "$rc" "$MIN_RATIO" "$MAX_RSS_MB" \
  "$MAX_HEALTHZ_MS" "${RESULTS[@]}" <<'PY'
import json, sys
work, machine, metrics, rc = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
min_ratio, max_rss, max_healthz = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
alone = json.load(open(f"{work}/alone.json"))
problems = [] if rc == 0 else [f"errata-bench exited {rc} (lost or mis-acknowledged events)"]

def rss(t0, t1):
    pts = []
    for line in open(f"{work}/rss.txt"):
        t, kb = line.split()
        if float(t0) <= float(t) <= float(t1):
            pts.append(int(kb) / 1024)
    return {"max_mb": round(max(pts), 1), "mean_mb": round(sum(pts) / len(pts), 1)} if pts else {}

attacks = []
for spec in sys.argv[8:]:
    kind, t0, t1 = spec.split(":")
    bench = json.load(open(f"{work}/under-{kind}.json"))
    attack = json.load(open(f"{work}/attack-{kind}.json"))
    ratio = bench["events_per_s"] / alone["events_per_s"] if alone["events_per_s"] else 0
    five = {k: v for k, v in list(bench["rejected"].items()) + list(attack["answers"].items())
            if k.startswith("5")}
    if five:
        problems.append(f"{kind}: 5xx answers {five}")
    if kind in ("slowloris", "slowloris-keyed", "headers") and ratio < min_ratio:
        problems.append(f"{kind}: ingestion at {ratio:.0%} of its rate alone (< {min_ratio:.0%})")
    peak = rss(t0, t1).get("max_mb", 0)
    if max_rss and peak > max_rss:
        problems.append(f"{kind}: server RSS reached {peak} MB (> {max_rss:g} MB)")
    healthz = attack.get("healthz") or {}
    p99 = healthz.get("p99_ms") or 0
    if max_healthz and not healthz.get("probes"):
        problems.append(f"{kind}: /healthz never answered 200 to the probe")
    if max_healthz and p99 > max_healthz:
        problems.append(f"{kind}: /healthz p99 {p99} ms (> {max_healthz:g} ms)")
    attacks.append({
        "attack": kind,
        "events_per_s": bench["events_per_s"],
        "vs_alone": round(ratio, 3),
        "latency_ms": bench.get("latency_ms"),
        "generator_rejected": bench["rejected"],
        "server_rss_during_attack": rss(t0, t1),
        **{k: attack[k] for k in ("connections", "connections_opened", "answers",
                                   "cut_off_or_reset", "healthz", "bomb_coding")},
    })
print(json.dumps({
    "scenario": "attack",
    "machine": machine,
    "alone": {"events_per_s": alone["events_per_s"], "latency_ms": alone.get("latency_ms")},
    "attacks": attacks,
    "server_metrics": metrics,
    "ok": not problems,
    "problems": problems,
}, indent=2))
sys.exit(0 if not problems else 1)
PY
