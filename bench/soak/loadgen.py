#!/usr/bin/env python3
"""Open-loop mixed-traffic load generator for bench/soak.sh.

    loadgen.py --url http://127.0.0.1:PORT --rate 500 --secs 600 --out load.json
        [--mix plain=40,stream=20,council=4,routed=16,mcp=10,task=10] [--timeout 30]
        [--max-inflight 4000]

Sends requests at a fixed rate whatever the server does (open loop: request i is due at
start + i/rate; a slow answer never delays the next send), the kinds interleaved by a smooth
weighted round robin so each kind keeps its share every second:

  plain    POST /v1/chat/completions, model `fixed` (200 with `choices`)
  stream   the same with `"stream": true`, model `streamer` (200, SSE ending in `data: [DONE]`)
  council  POST /v1/chat/completions, model `fusion/soak` (a council of five mock calls)
  routed   POST /v1/chat/completions, model `router/auto` (200 with an `x-fusion-route` header)
  mcp      `tools/call` over Streamable HTTP `/mcp` with the official `mcp` Python SDK, one
           session reused for every call, alternating `time__get_current_time` and
           `everything__echo` (real child servers behind Fusion's hub)
  task     POST /api/tasks, a completion on model `tasker` (202 with an id)

The HTTP/1.1 requests go over a pool of keep-alive connections written on asyncio streams: the
peers' venv has no aiohttp or httpx, and its httpx2 measured 566 µs of CPU a request against 43 µs
for these streams (2,000 requests to mock-provider, 10 at a time, on this 2-core machine), which
keeps the generator well inside the one core left to it at 500 req/s. Latency is measured from the moment a
request was due, not when it was sent, so a stalled generator or server cannot hide its delay
(no coordinated omission). Errors are counted per kind and reason. Writes OUT as JSON: per kind
sent, ok, errors {reason: n}, latency percentiles (ms; stream also time to the first SSE event),
plus the scheduler's own lag and the generator's CPU time. Prints one progress line every 10 s
on stderr. Needs the `mcp` SDK for the mcp kind (the peers' venv: scripts/install-peers.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
import traceback
import urllib.parse
from typing import Any

KINDS = ("plain", "stream", "council", "routed", "mcp", "task")
DEFAULT_MIX = "plain=40,stream=20,council=4,routed=16,mcp=10,task=10"
MAX_BODY = 8 << 20  # a response bigger than this is an error, not a buffer without end
MAX_TASK_IDS = 200_000


def parse_mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if not sep or name not in KINDS or not weight.strip().isdigit():
            raise SystemExit(f"--mix: bad entry {part!r}; want KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        mix[name] = int(weight)
    if sum(mix.values()) <= 0:
        raise SystemExit("--mix: the weights sum to 0")
    return {k: w for k, w in mix.items() if w > 0}


def smooth_round_robin(mix: dict[str, int]):
    """Nginx's smooth weighted round robin: every kind at its share, evenly spread."""
    current = {k: 0 for k in mix}
    total = sum(mix.values())
    while True:
        for k, w in mix.items():
            current[k] += w
        best = max(current, key=current.__getitem__)
        current[best] -= total
        yield best


class Stats:
    def __init__(self) -> None:
        self.sent = 0
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.latency_ms: list[float] = []
        self.first_event_ms: list[float] = []
        self.samples: list[str] = []  # the first few error messages, for the report

    def error(self, reason: str, detail: str = "") -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(f"{reason}: {detail[:300]}")


class HttpError(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, first_chunk_at: float | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.first_chunk_at = first_chunk_at


class Pool:
    """Keep-alive HTTP/1.1 connections to one host: an idle one is reused, else one is opened."""

    def __init__(self, host: str, port: int, max_idle: int = 512) -> None:
        self.host, self.port, self.max_idle = host, port, max_idle
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.stale_retries = 0

    async def request(self, method: str, path: str, body: bytes | None) -> Response:
        reused = bool(self.idle)
        conn = self.idle.pop() if reused else await self._open()
        try:
            return await self._exchange(conn, method, path, body)
        except HttpError as e:
            # A kept-alive connection the server closed while idle: once more on a new one.
            if reused and e.reason == "closed_before_response":
                self.stale_retries += 1
                return await self._exchange(await self._open(), method, path, body)
            raise

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            conn = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        except OSError as e:
            raise HttpError("connect", str(e)) from e
        self.opened += 1
        return conn

    async def _exchange(self, conn, method: str, path: str, body: bytes | None) -> Response:
        reader, writer = conn
        keep = False
        try:
            head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            if body is not None:
                head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + (body or b""))
            try:
                status_line = await reader.readline()
            except (ConnectionError, OSError) as e:
                raise HttpError("closed_before_response", str(e)) from e
            if not status_line:
                raise HttpError("closed_before_response", "EOF")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise HttpError("bad_status_line", repr(status_line[:100]))
            status = int(parts[1])
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise HttpError("reset", "EOF in headers")
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            first_chunk_at = None
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                size_total = 0
                while True:
                    size_line = await reader.readline()
                    if not size_line:
                        raise HttpError("reset", "EOF in chunked body")
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunk = await reader.readexactly(size + 2)
                    if first_chunk_at is None:
                        first_chunk_at = time.perf_counter()
                    chunks.append(chunk[:-2])
                    size_total += size
                    if size_total > MAX_BODY:
                        raise HttpError("body_too_large", f"> {MAX_BODY} bytes")
                body_bytes = b"".join(chunks)
                keep = True
            elif "content-length" in headers:
                n = int(headers["content-length"])
                if n > MAX_BODY:
                    raise HttpError("body_too_large", f"{n} bytes")
                body_bytes = await reader.readexactly(n)
                keep = True
            else:
                body_bytes = await reader.read(MAX_BODY)
            if headers.get("connection", "").lower() == "close":
                keep = False
            return Response(status, headers, body_bytes, first_chunk_at)
        except asyncio.IncompleteReadError as e:
            raise HttpError("reset", f"short read ({len(e.partial)} bytes)") from e
        except (ConnectionError, OSError) as e:
            raise HttpError("reset", str(e)) from e
        finally:
            if keep and len(self.idle) < self.max_idle:
                self.idle.append(conn)
            else:
                writer.close()


def chat_body(model: str, n: int, stream: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "max_tokens": 64,
                            "messages": [{"role": "user", "content": f"Soak request {n}: say hello."}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        u = urllib.parse.urlparse(args.url)
        self.pool = Pool(u.hostname or "127.0.0.1", u.port or 80)
        self.stats = {k: Stats() for k in KINDS}
        self.inflight = 0
        self.max_inflight_seen = 0
        self.task_ids: list[str] = []
        self.mcp_client = None
        self.mcp_error: str | None = None

    async def one(self, kind: str, n: int, due: float) -> None:
        st = self.stats[kind]
        self.inflight += 1
        self.max_inflight_seen = max(self.max_inflight_seen, self.inflight)
        try:
            await asyncio.wait_for(self.dispatch(kind, n, due, st), self.args.timeout)
            st.ok += 1
            st.latency_ms.append((time.perf_counter() - due) * 1000)
        except asyncio.TimeoutError:
            st.error("timeout", f"no answer in {self.args.timeout} s")
        except HttpError as e:
            st.error(e.reason, e.detail)
        except Exception as e:  # an SDK error: counted, the soak goes on
            st.error(type(e).__name__, str(e))
        finally:
            self.inflight -= 1

    async def dispatch(self, kind: str, n: int, due: float, st: Stats) -> None:
        if kind == "mcp":
            return await self.mcp_call(n)
        if kind == "task":
            body = json.dumps({"work": {"kind": "completion", "model": "tasker",
                                        "messages": [{"role": "user", "content": f"Soak task {n}"}]}}).encode()
            r = await self.pool.request("POST", "/api/tasks", body)
            expect(r, 202, b'"id"')
            if len(self.task_ids) < MAX_TASK_IDS:
                self.task_ids.append(json.loads(r.body)["id"])
            return
        model = {"plain": "fixed", "stream": "streamer", "council": "fusion/soak", "routed": "router/auto"}[kind]
        r = await self.pool.request("POST", "/v1/chat/completions", chat_body(model, n, kind == "stream"))
        if kind == "stream":
            expect(r, 200, b"data: [DONE]")
            if r.first_chunk_at is not None:
                st.first_event_ms.append((r.first_chunk_at - due) * 1000)
        else:
            expect(r, 200, b'"choices"')
        if kind == "routed" and "x-fusion-route" not in r.headers:
            raise HttpError("no_route_header", r.body[:200].decode("utf-8", "replace"))

    async def mcp_call(self, n: int) -> None:
        if self.mcp_client is None:
            raise HttpError("mcp_unavailable", self.mcp_error or "no session")
        if n % 2:
            result = await self.mcp_client.call_tool("time__get_current_time", {"timezone": "UTC"})
        else:
            result = await self.mcp_client.call_tool("everything__echo", {"message": f"soak {n}"})
        if result.is_error:
            raise HttpError("tool_error", str(result.content)[:300])

    async def run(self) -> dict[str, Any]:
        mix = parse_mix(self.args.mix)
        if "mcp" not in mix:
            return await self.schedule(mix)
        ready, stop = asyncio.Event(), asyncio.Event()
        owner = asyncio.create_task(mcp_owner(self, ready, stop))
        await ready.wait()
        try:
            return await self.schedule(mix)
        finally:
            stop.set()
            await asyncio.wait({owner}, timeout=10)

    async def schedule(self, mix: dict[str, int]) -> dict[str, Any]:
        rate, secs = self.args.rate, self.args.secs
        kinds = smooth_round_robin(mix)
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()
        lags: list[float] = []
        skipped = 0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter() + 0.2
        end = start + secs
        next_report = start + 10
        for i in itertools.count():
            due = start + i / rate
            if due >= end:
                break
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.perf_counter()
            lags.append((now - due) * 1000)
            kind = next(kinds)
            st = self.stats[kind]
            st.sent += 1
            if self.inflight >= self.args.max_inflight:
                st.error("generator_overloaded", f"{self.inflight} requests in flight")
                skipped += 1
                continue
            t = loop.create_task(self.one(kind, st.sent, due))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            if now >= next_report:
                next_report += 10
                done = sum(s.ok for s in self.stats.values())
                errs = sum(sum(s.errors.values()) for s in self.stats.values())
                print(f"[soak-load] t={now - start:5.0f}s sent={i + 1} ok={done} errors={errs} "
                      f"inflight={self.inflight} lag_p99={pct(lags[-5000:], 99):.1f}ms", file=sys.stderr, flush=True)
        sent_secs = time.perf_counter() - start
        if tasks:
            await asyncio.wait(tasks, timeout=self.args.timeout + 5)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - start
        return {
            "rate": rate, "secs": secs, "mix": mix, "timeout_s": self.args.timeout,
            "send_secs": round(sent_secs, 3), "wall_secs": round(wall, 3),
            "achieved_rate": round(sum(s.sent for s in self.stats.values()) / max(sent_secs, 1e-9), 1),
            "scheduler_lag_ms": summary(lags),
            "max_inflight": self.max_inflight_seen,
            "connections_opened": self.pool.opened, "stale_retries": self.pool.stale_retries,
            "generator_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
            "generator_max_rss_mib": round(cpu1.ru_maxrss / 1024, 1),
            "mcp_session_error": self.mcp_error,
            "kinds": {k: {"sent": s.sent, "ok": s.ok, "errors": s.errors, "error_samples": s.samples,
                          "latency_ms": summary(s.latency_ms),
                          **({"first_event_ms": summary(s.first_event_ms)} if s.first_event_ms else {})}
                      for k, s in self.stats.items() if k in mix},
            "task_ids": self.task_ids,
        }


async def mcp_owner(gen: Generator, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """Holds one MCP session on `/mcp` for the whole run, in a task of its own: a failure of the
    SDK's transport (its task group cancels its own scope) ends this task and is recorded in
    `gen.mcp_error` (later calls then count as errors), never cancelling the schedule."""
    try:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
    except ImportError as e:
        gen.mcp_error = f"the mcp SDK is not importable: {e}"
        ready.set()
        return
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=300.0),
                              limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64))
    try:
        target = streamable_http_client(gen.args.url + "/mcp", http_client=http)
        async with Client(target, cache=None, read_timeout_seconds=gen.args.timeout) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            missing = {"time__get_current_time", "everything__echo"} - tools
            if missing:
                raise RuntimeError(f"the hub does not list {sorted(missing)}; it lists {sorted(tools)[:20]}")
            gen.mcp_client = client
            ready.set()
            await stop.wait()
            gen.mcp_client = None
    except BaseException as e:  # the SDK raises exception groups; keep every leaf's message
        gen.mcp_client = None
        gen.mcp_error = describe(e)
        print(f"[soak-load] MCP session failed: {gen.mcp_error}", file=sys.stderr, flush=True)
        traceback.print_exception(e, file=sys.stderr)
        if isinstance(e, asyncio.CancelledError) and stop.is_set():
            gen.mcp_error = None
    finally:
        ready.set()
        await http.aclose()


def describe(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(describe(x) for x in e.exceptions)
    return f"{type(e).__name__}: {e}"


def expect(r: Response, status: int, needle: bytes) -> None:
    if r.status != status:
        raise HttpError(f"http_{r.status}", r.body[:300].decode("utf-8", "replace"))
    if needle not in r.body:
        raise HttpError("bad_body", r.body[:300].decode("utf-8", "replace"))


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    s = sorted(values)
    at = lambda p: round(s[min(len(s) - 1, int(len(s) * p / 100))], 3)
    return {"n": len(s), "p50": at(50), "p90": at(90), "p99": at(99), "p999": at(99.9),
            "max": round(s[-1], 3), "mean": round(sum(s) / len(s), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="fusion serve's base URL, e.g. http://127.0.0.1:PORT")
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--secs", type=float, default=600.0)
    p.add_argument("--mix", default=DEFAULT_MIX)
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (seconds)")
    p.add_argument("--max-inflight", type=int, default=4000)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if not (0 < args.rate <= 10_000):
        raise SystemExit(f"--rate must be in (0, 10000], got {args.rate}")
    if not (0 < args.secs <= 86_400):
        raise SystemExit(f"--secs must be in (0, 86400], got {args.secs}")
    args.url = args.url.rstrip("/")
    result = asyncio.run(Generator(args).run())
    with open(args.out, "w") as f:
        json.dump(result, f)
    errs = sum(sum(k["errors"].values()) for k in result["kinds"].values())
    print(f"[soak-load] done: {sum(k['sent'] for k in result['kinds'].values())} sent, {errs} errors, "
          f"{result['generator_cpu_s']} s CPU", file=sys.stderr)


if __name__ == "__main__":
    main()
