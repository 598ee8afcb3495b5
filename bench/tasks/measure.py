#!/usr/bin/env python3
"""Measurements for bench/tasks.sh against one running `fusion serve` (stdlib, plus the official
`mcp` SDK for the MCP part when it is importable).

  measure.py BASE_URL MODEL N_SUBMIT CONCURRENCY N_STATUS OUT.json

1. Submissions: N_SUBMIT `POST /api/tasks` (a completion for MODEL) from CONCURRENCY threads,
   each on its own keep-alive connection: submissions per second and per-request latency.
2. Drain: time until every submitted task is completed (polling `GET /api/queue`).
3. Status over REST: N_STATUS sequential `GET /api/tasks/{id}` of random finished tasks.
4. Status over MCP: N_STATUS sequential `get_task_status` calls through the official Python SDK
   on one Streamable HTTP session at BASE_URL/mcp (skipped when `mcp` is not importable).
Writes the figures to OUT.json and prints them.
"""

import asyncio
import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


class Conn:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        self.c.request(method, path, body=data, headers=headers)
        r = self.c.getresponse()
        payload = r.read()
        return r.status, json.loads(payload) if payload else None


def submit_all(base, model, n, threads):
    ids, lat, errors = [], [], []
    lock = threading.Lock()
    per = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]

    def work(count, k):
        conn = Conn(base)
        for i in range(count):
            body = {"work": {"kind": "completion", "model": model,
                             "messages": [{"role": "user", "content": f"task {k}-{i}"}]}}
            t0 = time.perf_counter()
            status, answer = conn.req("POST", "/api/tasks", body)
            dt = time.perf_counter() - t0
            with lock:
                if status == 202:
                    ids.append(answer["id"])
                    lat.append(dt)
                else:
                    errors.append((status, answer))

    start = time.perf_counter()
    ts = [threading.Thread(target=work, args=(c, k)) for k, c in enumerate(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - start
    return ids, lat, errors, wall


def drain(base, start, limit_s=600):
    conn = Conn(base)
    while time.perf_counter() - start < limit_s:
        _, queue = conn.req("GET", "/api/queue")
        if queue["queued"] == 0 and queue["running"] == 0:
            return time.perf_counter() - start
        time.sleep(0.05)
    return float("nan")


def rest_status(base, ids, n):
    conn = Conn(base)
    lat = []
    for _ in range(20):
        conn.req("GET", f"/api/tasks/{random.choice(ids)}")
    for _ in range(n):
        t0 = time.perf_counter()
        status, view = conn.req("GET", f"/api/tasks/{random.choice(ids)}")
        lat.append(time.perf_counter() - t0)
        assert status == 200 and view["state"] == "completed", view
    return lat


async def mcp_status(base, ids, n):
    from mcp import Client  # noqa: PLC0415 - optional peer
    from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

    lat = []
    async with Client(streamable_http_client(f"{base}/mcp")) as client:
        for _ in range(20):
            await client.call_tool("get_task_status", {"task_id": random.choice(ids)})
        for _ in range(n):
            t0 = time.perf_counter()
            result = await client.call_tool("get_task_status", {"task_id": random.choice(ids)})
            lat.append(time.perf_counter() - t0)
            assert not result.is_error, result
    return lat


def main():
    base, model, n_submit, threads, n_status, out = sys.argv[1:7]
    n_submit, threads, n_status = int(n_submit), int(threads), int(n_status)
    ids, lat, errors, wall = submit_all(base, model, n_submit, threads)
    drained = drain(base, time.perf_counter() - wall)
    res = {
        "submitted": len(ids), "submit_errors": len(errors), "submit_wall_s": wall,
        "submissions_per_s": len(ids) / wall,
        "submit_p50_ms": 1e3 * pct(lat, 50), "submit_p99_ms": 1e3 * pct(lat, 99),
        "all_done_s": drained, "tasks_per_s_end_to_end": len(ids) / drained,
    }
    rest = rest_status(base, ids, n_status)
    res |= {"rest_status_p50_ms": 1e3 * pct(rest, 50), "rest_status_p99_ms": 1e3 * pct(rest, 99)}
    try:
        mcp = asyncio.run(mcp_status(base, ids, n_status))
        res |= {"mcp_status_p50_ms": 1e3 * pct(mcp, 50), "mcp_status_p99_ms": 1e3 * pct(mcp, 99)}
    except ImportError as e:
        print(f"[tasks-bench] no MCP measurement: {e}", file=sys.stderr)
    if errors:
        print(f"[tasks-bench] first submit error: {errors[0]}", file=sys.stderr)
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
