"""Throughput and latency of `polyedit serve` under N concurrent clients, on loopback, in one run.

Starts `polyedit serve MODEL --port 0` as its own process (the real command), then for each N in
`--clients` (default 1, 8, 64) runs N clients at once, each on its own keep-alive connection sending
`--requests` completion requests one after another (at least `--min-requests` in all; greedy, or with
`--temperature` above 0 sampled, each request with its own seed; `--max-tokens` tokens, the knowledge
world's prompts); the levels run interleaved `--rounds` times, so a
change in the machine's load hits all alike. It prints requests/s, p50/p99 latency, connection errors,
5xx and other non-200 answers, and each N's requests/s as a multiple of one client's. The figures compare
within the run; the machine's load moves them all. Done when (issue 13): at 64 clients 0 connection errors, 0 5xx, and at least 3x the
requests/s of one client at a time (the server batches concurrent requests on the model).

    PYTHONPATH=src python benchmarks/bench_serve.py [--model world:small] [--clients 1,8,64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time


def start_server(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "polyedit.cli.main", "serve", model, "--port", "0", "--model-name", "bench", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/v1/completions", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain the log
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("the server did not start:\n" + "".join(lines))


def prompts(model: str, n: int) -> list[str]:
    try:
        from polyedit.data.registry import load_dataset

        cases = load_dataset("world:small", limit=n).cases
        out = [p.prompt for c in cases for p in c.probes][: n]
        if out:
            return out
    except Exception:  # another model's benchmark: generic prompts serve as well
        pass
    return [f"Question {i}: the capital of the country is" for i in range(n)]


def run_clients(host: str, port: int, n: int, per_client: int, texts: list[str], max_tokens: int,
                temperature: float = 0.0) -> dict:
    latencies: list[float] = []
    counts = {"ok": 0, "conn_errors": 0, "5xx": 0, "other": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        barrier.wait()
        for r in range(per_client):
            k = c * per_client + r
            body = json.dumps({"model": "bench", "prompt": texts[k % len(texts)], "max_tokens": max_tokens,
                               "temperature": temperature, **({"seed": k} if temperature > 0 else {})}).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = None
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
            dt = time.perf_counter() - t0
            with lock:
                if status == 200:
                    counts["ok"] += 1
                    latencies.append(dt)
                elif status is None:
                    counts["conn_errors"] += 1
                elif status >= 500:
                    counts["5xx"] += 1
                else:
                    counts["other"] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": n, "requests": n * per_client, "wall_s": wall, "latencies": latencies, **counts}


def merge(parts: list[dict]) -> dict:
    """One level's rounds together: requests/s over their summed wall time, latencies pooled."""
    lat = sorted(x for p in parts for x in p["latencies"])
    wall = sum(p["wall_s"] for p in parts)
    out = {k: sum(p[k] for p in parts) for k in ("requests", "ok", "conn_errors", "5xx", "other")}
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"clients": parts[0]["clients"], "wall_s": wall, "rps": out["ok"] / wall, "p50_ms": pick(0.5),
            "p99_ms": pick(0.99), **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="world:small")
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--requests", type=int, default=8, help="requests per client (at least --min-requests a level)")
    ap.add_argument("--min-requests", type=int, default=64, help="requests per level and round, at least")
    ap.add_argument("--rounds", type=int, default=3, help="the levels run interleaved this many times")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.0, help="0: greedy; above 0: seeded sampling")
    ap.add_argument("--server-threads", type=int, default=1,
                    help="the server's torch threads (0: torch's default; on a shared machine 1 is fastest)")
    ap.add_argument("--server-arg", action="append", default=[], help="extra `polyedit serve` option (repeat)")
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    per_client = {n: max(args.requests, -(-args.min_requests // n)) for n in levels} if levels else {}
    if (not levels or min(levels) < 1 or args.requests < 1 or args.rounds < 1
            or args.rounds * sum(n * k for n, k in per_client.items()) > 20000):
        raise SystemExit("--clients, --requests, --rounds must be positive, and all requests at most 20000")

    extra = ([f"--threads={args.server_threads}"] if args.server_threads > 0 else []) + args.server_arg
    proc, url = start_server(args.model, extra)
    host, port = url.removeprefix("http://").split(":")
    try:
        texts = prompts(args.model, 256)
        run_clients(host, int(port), 2, 2, texts, args.max_tokens)  # warm up
        parts: dict[int, list[dict]] = {n: [] for n in levels}
        for _ in range(args.rounds):  # interleaved, so a change in the machine's load hits every level alike
            for n in levels:
                parts[n].append(run_clients(host, int(port), n, per_client[n], texts, args.max_tokens,
                                            args.temperature))
        rows = [merge(parts[n]) for n in levels]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()

    base = next((r["rps"] for r in rows if r["clients"] == 1), rows[0]["rps"])
    print(f"polyedit serve {args.model} {' '.join(extra)}: {args.rounds} interleaved rounds, requests per client "
          f"{per_client}, max_tokens {args.max_tokens}, "
          f"{'greedy' if args.temperature == 0 else f'sampling at temperature {args.temperature:g}'}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'clients':>7} {'requests':>8} {'req/s':>8} {'x 1 client':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'conn err':>8} {'5xx':>4} {'other':>5}")
    for r in rows:
        print(f"{r['clients']:>7} {r['requests']:>8} {r['rps']:>8.1f} {r['rps'] / base:>10.2f} {r['p50_ms']:>8.0f} "
              f"{r['p99_ms']:>8.0f} {r['conn_errors']:>8} {r['5xx']:>4} {r['other']:>5}")
    top = next((r for r in rows if r["clients"] == 64), None)
    if top is not None:
        ok = top["conn_errors"] == 0 and top["5xx"] == 0 and top["other"] == 0 and top["rps"] >= 3 * base
        print(f"done-when (64 clients: 0 connection errors, 0 5xx, >= 3x one client's req/s): "
              f"{'met' if ok else 'NOT met'} ({top['rps'] / base:.2f}x)")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
