"""Probe concurrency benchmark: N endpoints that each take LATENCY to answer.

Starts a local server on 127.0.0.1 whose /v1/models answers after the given latency, probes N
endpoints on it at several concurrency limits, and prints the wall time of each run next to the
serial time (measured on a few probes, extrapolated to N). Exits 1 if a probe fails or the
fastest run misses the target. Bounded: every run has a deadline and the server stops at exit.

    python bench/probes.py [--endpoints 100] [--latency 0.2] [--target 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provision.catalog import load_catalog
from provision.probe import Endpoint, run_probes
from provision.record import replace
from provision.secrets import Secret

MODELS = json.dumps({"object": "list", "data": [{"id": "bench-model"}]}).encode()
SAMPLE = 5  # probes measured one at a time for the serial estimate


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # all probes connect at once; the default backlog of 5 drops SYNs
    latency = 0.2


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one write: no Nagle / delayed-ACK stall per answer
    server: _Server

    def do_GET(self) -> None:
        time.sleep(self.server.latency)
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(MODELS)))
        self.end_headers()
        self.wfile.write(MODELS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def timed(endpoints: list[Endpoint], concurrency: int) -> tuple[float, float]:
    """Wall time of one run, and the sum of its request latencies (what a serial run costs)."""
    started = time.perf_counter()
    verdicts = run_probes(endpoints, concurrency=concurrency, deadline=60.0, max_retries=0)
    elapsed = time.perf_counter() - started
    failed = [v for v in verdicts if v.outcome != "ok"]
    if failed:
        example = failed[0]
        raise SystemExit(f"{len(failed)} probes failed, e.g. {example.outcome}: {example.reason}")
    return elapsed, sum(v.latency_ms for v in verdicts) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--target", type=float, default=1.0, help="seconds for the fastest run")
    args = parser.parse_args(argv)

    server = _Server(("127.0.0.1", 0), _Handler)
    server.latency = args.latency
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        template = Endpoint(
            address="bench.0",
            recipe=load_catalog().recipes["openai"],
            base_url=url,
            credential=Secret("sk-bench-0000"),
            default_base_url=False,
        )
        endpoints = [
            replace(template, address=f"bench.{i}") for i in range(args.endpoints)
        ]
        _, sample = timed(endpoints[:SAMPLE], concurrency=1)  # also warms up the imports
        serial = sample / SAMPLE * args.endpoints
        print(f"{args.endpoints} endpoints, each answering after {args.latency * 1000:.0f} ms")
        print(f"  {f'serial (extrapolated from {SAMPLE})':<30}  {serial:6.2f} s")
        fastest = serial
        for concurrency in (16, args.endpoints):
            wall, _ = timed(endpoints, concurrency)
            fastest = min(fastest, wall)
            label = f"concurrency {concurrency}" + (" (default)" if concurrency == 16 else "")
            print(f"  {label:<30}  {wall:6.2f} s  {serial / wall:5.1f}x faster than serial")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    verdict = "met" if fastest <= args.target else "MISSED"
    print(f"  target: {args.endpoints} probes in <= {args.target:g} s: {verdict}")
    return 0 if fastest <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
