#!/usr/bin/env bash
# Back-to-back comparison of two server builds under the same generator: runs bench/burst.sh
# with server A, then B, then A, … (ROUNDS pairs), so that a drift of the machine's speed
# hits both alike, and prints each run and the medians: events/s, p99 latency and the
# server's CPU per event (user + system, the measure least disturbed by other load), and the
# generator's: the same binary doing the same work on both sides, so when its CPU per event
# moves between runs, the machine's speed did (a shared VM's neighbours, its clock), and the
# server's CPU over the generator's is the ratio to trust.
#
#   bench/ab.sh SERVER_A SERVER_B [--rounds 3] [-- burst.sh arguments]
#
# SERVER_A/B are `errata` binaries (e.g. a worktree of the previous commit built with
# `cargo build --release`); the generator is this checkout's release build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
A="$(realpath "$1")" B="$(realpath "$2")"
shift 2
ROUNDS=3 ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --) shift; ARGS=("$@"); break ;;
    *) die "unknown argument $1" ;;
  esac
done
(cd "$ROOT" && cargo build --quiet --release -p errata-bench) || die "build failed"
OUT="$(mktemp -d)"
for i in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin="$A"; [ "$side" = B ] && bin="$B"
    log "round $i, server $side"
    ERRATA_BENCH_NO_BUILD=1 ERRATA_BIN="$bin" "$BENCH_DIR/burst.sh" "${ARGS[@]}" >"$OUT/$side.$i.json" \
      || die "run $side.$i failed (see its output in $OUT)"
  done
done
python3 - "$OUT" "$ROUNDS" "$A" "$B" <<'PY'
import json, statistics, sys
out, rounds, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = {"A": [], "B": []}
for i in range(1, rounds + 1):
    for side in "AB":
        r = json.load(open(f"{out}/{side}.{i}.json"))
        lat = r["bench"].get("latency_ms", {})
        server = r.get("server_cpu_us_per_event")
        client = r["bench"]["client_cpu_s"] * 1e6 / max(r["bench"]["accepted"], 1)
        rows[side].append((r["bench"]["events_per_s"], lat.get("p99"), server,
                           server / client if server and client else None))
        print(f"{side}{i}: {r['bench']['events_per_s']:>9.0f} events/s  p99 {lat.get('p99')} ms  "
              f"server {server} µs/event  generator {client:.1f} µs/event")
med = lambda xs: statistics.median([x for x in xs if x is not None])
summary = {}
for side, path in (("A", a), ("B", b)):
    rs = rows[side]
    summary[side] = {"server": path, "events_per_s": med([r[0] for r in rs]),
                     "p99_ms": med([r[1] for r in rs]), "server_cpu_us_per_event": med([r[2] for r in rs]),
                     "server_over_generator_cpu": med([r[3] for r in rs])}
summary["B/A events_per_s"] = round(summary["B"]["events_per_s"] / summary["A"]["events_per_s"], 3)
summary["B/A cpu_per_event"] = round(summary["B"]["server_cpu_us_per_event"] / summary["A"]["server_cpu_us_per_event"], 3)
summary["B/A cpu_over_generator"] = round(summary["B"]["server_over_generator_cpu"] / summary["A"]["server_over_generator_cpu"], 3)
print(json.dumps(summary, indent=2))
PY
rm -rf "$OUT"
