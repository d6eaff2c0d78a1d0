# Shared helpers for the bench/ scenario scripts. Source it; do not run it.
#
# Every script: builds the binaries (release by default; `--debug` or
# ERRATA_BENCH_PROFILE=dev for debug builds, which is what CI wants because it already built
# them), starts its own servers on free 127.0.0.1 ports with a temporary database, and stops
# everything it started from an EXIT trap (by pid, never by name). Logs and samples live in
# $WORK (kept when ERRATA_BENCH_KEEP=1 or the script fails).

# The default cap of 10,000 events per issue would prune the Zipf mix's top issues in any run
# of more than ~75,000 events (the top issue gets ~13 % of them), and the generator's read-API
# check would then report those acknowledged events as missing: the servers the scripts start
# run without a cap unless ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE is set (retention.sh sets
# its own for each server and `errata retention` command).
export ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE="${ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE:-0}"

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
PROFILE="${ERRATA_BENCH_PROFILE:-release}"
PIDS=()
WORK=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# Scans "$@" for --debug (sets PROFILE=dev); other arguments are left to the script.
bench_profile_from_args() {
  local a
  for a in "$@"; do
    if [ "$a" = "--debug" ]; then PROFILE=dev; fi
  done
}

bench_cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # Give servers 10 s to drain, then make sure.
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${PG_DROP_DB:-}" ]; then
    dropdb -h 127.0.0.1 -U postgres --if-exists "$PG_DROP_DB" >/dev/null 2>&1 || true
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$rc" -eq 0 ] && [ "${ERRATA_BENCH_KEEP:-0}" != 1 ]; then
      rm -rf "$WORK"
    else
      log "logs and samples kept in $WORK"
    fi
  fi
  exit "$rc"
}

# Builds the server and the bench (a release build of only the bench when BENCH_ONLY=1:
# floor.sh needs no server), creates $WORK, installs the cleanup trap.
bench_init() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/errata-bench.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  local dir flag
  if [ "$PROFILE" = dev ]; then dir=debug; flag=(); else dir="$PROFILE"; flag=(--profile "$PROFILE"); fi
  if [ "${ERRATA_BENCH_NO_BUILD:-0}" = 1 ]; then
    log "using the existing $PROFILE binaries (ERRATA_BENCH_NO_BUILD=1)"
  else
    log "building ($PROFILE)"
    local pkgs=(-p errata-server -p errata-bench --all-features)
    # CI does not come here: scripts/test builds every binary in one invocation (the tests'
    # feature resolution) and sets ERRATA_BENCH_NO_BUILD=1.
    if [ "${BENCH_ONLY:-0}" = 1 ] && [ "$PROFILE" != dev ]; then pkgs=(-p errata-bench); fi
    (cd "$ROOT" && cargo build --quiet "${flag[@]}" "${pkgs[@]}") || die "build failed"
  fi
  local target="${CARGO_TARGET_DIR:-$ROOT/target}"
  # ERRATA_BIN runs another build's server against this build's generator (bench/ab.sh).
  ERRATA="${ERRATA_BIN:-$target/$dir/errata}"
  BENCH="$target/$dir/errata-bench"
  [ -x "$BENCH" ] || die "errata-bench not found under $target/$dir"
  [ "${BENCH_ONLY:-0}" = 1 ] || [ -x "$ERRATA" ] || die "errata not found under $target/$dir"
}

# forget_pid PID: drop a finished process from the cleanup list (pids get recycled).
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]:-}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server NAME DATABASE_URL PORT [VAR=value ...]
# Starts `errata serve` in the background, waits until /healthz answers, sets SERVER_PID.
# The server's stdout goes to $WORK/NAME.out (the DSN on first start), stderr to NAME.log.
start_server() {
  local name="$1" db="$2" port="$3"
  shift 3
  env DATABASE_URL="$db" ERRATA_BIND="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-warn}" "$@" \
    "$ERRATA" serve >>"$WORK/$name.out" 2>>"$WORK/$name.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 300); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$WORK/$name.log" >&2; die "server $name exited"; }
    sleep 0.1
  done
  die "server $name not healthy after 30 s"
}

# dsn_from_output NAME: the DSN printed by the first start.
dsn_from_output() {
  local dsn
  dsn="$(grep -Eo 'https?://[^[:space:]]+@[^[:space:]]+/[0-9]+' "$WORK/$1.out" | head -n1 || true)"
  [ -n "$dsn" ] || die "no DSN in the output of server $1"
  printf '%s\n' "$dsn"
}

# start_sqlite_server [VAR=value ...]: the single-server set-up of most scenarios: a fresh
# SQLite database under $WORK served as "server" on a free port. Sets PORT, DB, SERVER_PID,
# DSN (a project's) and TOKEN (for the read API).
start_sqlite_server() {
  PORT="$(free_port)"
  mkdir -p "$WORK/db"
  DB="sqlite://$WORK/db/errata.db"
  start_server server "$DB" "$PORT" "$@"
  DSN="$(dsn_from_output server)"
  TOKEN="$(make_token "$DB")"
}

# token DATABASE_URL: a read-API token.
make_token() {
  DATABASE_URL="$1" RUST_LOG=error "$ERRATA" token create 2>>"$WORK/cli.log" | tail -n1
}

# cpu_ticks PID: user + system CPU of a process so far, in clock ticks (getconf CLK_TCK).
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# sample_rss PID FILE: appends "seconds_since_start rss_kb" every second while PID lives.
# Runs in the background; its pid is added to PIDS.
sample_rss() {
  local pid="$1" file="$2"
  (
    local t0 now rss ms
    t0=$(date +%s%N)
    while [ -r "/proc/$pid/status" ]; do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$rss" ] || break
      now=$(date +%s%N)
      ms=$(( (now - t0) / 1000000 ))
      printf '%d.%03d %s\n' $((ms / 1000)) $((ms % 1000)) "$rss"
      sleep 1
    done
  ) >>"$file" 2>/dev/null &
  PIDS+=("$!")
}

# rss_summary FILE [FROM_S TO_S]: JSON {samples, min_mb, max_mb, mean_mb, first_min_mb,
# last_min_mb, slope_mb_per_min} over the samples in the window.
rss_summary() {
  python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1]
lo = float(sys.argv[2]) if len(sys.argv) > 2 else float("-inf")
hi = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
pts = []
for line in open(path):
    parts = line.split()
    if len(parts) == 2:
        t, kb = float(parts[0]), int(parts[1])
        if lo <= t <= hi:
            pts.append((t, kb / 1024))
out = {"samples": len(pts)}
if pts:
    ys = [y for _, y in pts]
    out.update(min_mb=round(min(ys), 1), max_mb=round(max(ys), 1), mean_mb=round(sum(ys) / len(ys), 1))
    t0, t1 = pts[0][0], pts[-1][0]
    first = [y for t, y in pts if t <= t0 + 60]
    last = [y for t, y in pts if t >= t1 - 60]
    out["first_min_mb"] = round(sum(first) / len(first), 1)
    out["last_min_mb"] = round(sum(last) / len(last), 1)
    if len(pts) > 2 and t1 > t0:
        n = len(pts)
        mt = sum(t for t, _ in pts) / n
        my = sum(ys) / n
        var = sum((t - mt) ** 2 for t, _ in pts)
        slope = sum((t - mt) * (y - my) for t, y in pts) / var if var else 0.0
        out["slope_mb_per_min"] = round(slope * 60, 3)
print(json.dumps(out))
PY
}

# machine_json: what the numbers were measured on.
machine_json() {
  python3 - <<'PY'
import json, os, platform, subprocess, datetime
model = ""
try:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
except OSError:
    pass
mem = ""
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = f"{int(line.split()[1]) // 1024} MB"
print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "nproc": os.cpu_count(), "cpu": model, "memory": mem, "kernel": platform.release(),
}))
PY
}

# metrics_summary PORT: the server's errata_* counters and, per histogram, count/mean and
# the bucket bounds holding the median and p99 (JSON). Explains where ingest time goes:
# errata_batch_size is the group-commit size, errata_commit_duration_seconds the transaction.
metrics_summary() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null | python3 -c '
import json, re, sys
counters, hist = {}, {}
for line in sys.stdin:
    if line.startswith("#") or not line.startswith("errata_"):
        continue
    m = re.match(r"([a-z_]+)(\{[^}]*\})?\s+(\S+)", line)
    if not m:
        continue
    name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            h = hist.setdefault(name[: -len(suffix)], {"buckets": []})
            if suffix == "_bucket":
                le = re.search(r"le=\"([^\"]+)\"", labels)
                if le:
                    h["buckets"].append((float(le.group(1)), value))
            else:
                h[suffix[1:]] = h.get(suffix[1:], 0) + value
            break
    else:
        counters[name + labels] = counters.get(name + labels, 0) + value
out = {"counters": counters}
for name, h in hist.items():
    n = h.get("count", 0)
    if not n:
        continue
    def q(p):
        for le, c in sorted(h["buckets"]):
            if c >= p * n:
                return le
    out[name] = {"count": n, "mean": round(h.get("sum", 0) / n, 6), "p50_le": q(0.5), "p99_le": q(0.99)}
print(json.dumps(out))
' || echo '{}'
}
