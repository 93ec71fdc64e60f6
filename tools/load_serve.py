"""Load figure for `mstr serve`: requests/s and p50/p95 latency at 1, 4 and 16 concurrent clients.

    python tools/load_serve.py [--clients 1,4,16] [--word-requests 48] [--photo-requests 16]
                               [--word samples/demo/real/<first>.png] [--photo samples/photos/sign_en_hi_ta.jpg]

Starts `mstr serve` (the shipped model, default settings) on 127.0.0.1 at a free port as a
separate process, waits for /health, then for each kind (a word crop, a photo) and each client
count sends the requests from that many threads (httpx, one client each, `POST /read` with the
page's default: overlay included) and prints a Markdown table: requests, wall time, requests/s,
p50 and p95 latency. One warm-up request of each kind is sent first and not counted.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(url: str, data: bytes, name: str, clients: int, total: int) -> tuple[float, list[float]]:
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    todo = list(range(total))

    def worker() -> None:
        with httpx.Client(timeout=600) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    todo.pop()
                t = time.perf_counter()
                r = client.post(url, files={"file": (name, data, "application/octet-stream")})
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--word-requests", type=int, default=48)
    ap.add_argument("--photo-requests", type=int, default=16)
    ap.add_argument("--word", type=Path, default=sorted((ROOT / "samples/demo/real").glob("*.png"))[0])
    ap.add_argument("--photo", type=Path, default=ROOT / "samples/photos/sign_en_hi_ta.jpg")
    ap.add_argument("--serve-args", default="", help="extra arguments for mstr serve (e.g. '--model-slots 1')")
    args = ap.parse_args(argv)
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mstr", "serve", "--port", str(port), *args.serve_args.split()]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("mstr serve did not start")
            time.sleep(0.3)
        print(f"mstr serve {args.serve_args or '(defaults)'}; word crop {args.word.name}, photo {args.photo.name}\n")
        print("| input | clients | requests | wall s | requests/s | p50 s | p95 s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for kind, path, total in (("word crop", args.word, args.word_requests),
                                  ("photo", args.photo, args.photo_requests)):
            data = path.read_bytes()
            _run(base + "/read", data, path.name, 1, 1)  # warm-up
            for clients in (int(c) for c in args.clients.split(",")):
                n = max(total, clients)
                wall, lat = _run(base + "/read", data, path.name, clients, n)
                q = statistics.quantiles(lat, n=20, method="inclusive")
                print(f"| {kind} | {clients} | {n} | {wall:.1f} | {n / wall:.2f} | {statistics.median(lat):.3f} "
                      f"| {q[18]:.3f} |", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
