#!/usr/bin/env python3
"""Measurements and report for bench/mcp_hub.sh (run with the peers' venv: the official `mcp` SDK).

  measure.py run SPEC.json OUT_DIR
      SPEC.json (written by mcp_hub.sh): {"fusion": BIN, "everything": BIN, "configs": {"one": PATH,
      "ten": PATH}, "rounds": 3, "calls": N, "warmup": W, "lists": N, "cold_runs": N}.
      Runs the three measurements below ROUNDS times each, alternating targets within a round, and
      writes OUT_DIR/results.json.
  measure.py report OUT_DIR OUT.md
      Renders OUT_DIR/results.json (plus OUT_DIR/meta.json) as Markdown, prints it, writes OUT.md.

What is measured (every session is one stdio process spawned by the client, as a user's MCP
client does; all calls are sequential on that one session):
  echo  `tools/call` of server-everything's `echo` ({"message": "hello"}): directly to the child,
        and through `fusion mcp` with that one child (`e1__echo`). Official Python client in
        legacy mode (initialize, 2025-11-25) for both; Fusion also in the client's default mode
        (2026-07-28), and with one tokio worker (TOKIO_WORKER_THREADS=1; `fusion mcp` otherwise
        runs one per core). Plus a raw stdio client (one JSON line out, one line in, no SDK) for
        both, which shows the added latency without the Python SDK's own ~0.2 ms per call.
  list  `tools/list` (every page) through Fusion with 10 children, SDK legacy and default mode,
        and raw; the direct child's own `tools/list` as a reference.
  cold  Wall time from spawning the server to a complete `tools/list`: Fusion with 10 children
        (complete = every child's settled tool count), Fusion with 1 child, one child alone
        directly, and 10 children started directly by the client at once (the floor for any
        aggregator on this machine: 10 Node processes starting on the same cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

try:
    import anyio
    import anyio.to_thread
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS
except ImportError as exc:  # only `report` works without the SDK
    Client = None  # type: ignore[assignment]
    IMPORT_ERROR = exc

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
LEGACY_VERSION = "2025-11-25"
Json = dict[str, Any]


def log(msg: str) -> None:
    print(f"[mcp-hub-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc


def children_of(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.add(int(entry))
    return out


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children_of(p))
    return out


def status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return 0.0


def spawned_pid(before: set[int]) -> int:
    """The server process the client just spawned (a new child of this process)."""
    new = sorted(children_of(os.getpid()) - before)
    if len(new) != 1:
        raise RuntimeError(f"expected one new child process, found {new}")
    return new[0]


def process_figures(pid: int) -> Json:
    kids = [p for p in tree(pid) if p != pid]
    return {
        "rss_kib": status_kib(pid, "VmRSS"),
        "hwm_kib": status_kib(pid, "VmHWM"),
        "children": len(kids),
        "children_rss_kib": sum(status_kib(p, "VmRSS") for p in kids),
    }


# ---------------------------------------------------------------- statistics


def pct(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def dist(samples_ms: list[float]) -> Json:
    s = sorted(samples_ms)
    return {"n": len(s), "p50": pct(s, 50), "p90": pct(s, 90), "p99": pct(s, 99), "max": s[-1],
            "mean": statistics.fmean(s)}  # fmt: skip


# ---------------------------------------------------------------- targets


class Target:
    """One way of reaching server-everything: a command line, a protocol mode, a tool prefix."""

    def __init__(self, name: str, argv: list[str], mode: str, prefix: str, errlog: str,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.name, self.argv, self.mode, self.prefix, self.errlog = name, argv, mode, prefix, errlog
        self.env = dict(os.environ, **(env or {}))

    @contextlib.asynccontextmanager
    async def session(self):
        """An entered `mcp.Client` on a freshly spawned server, and the server's pid."""
        params = StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env)
        with open(self.errlog, "a") as errlog:
            before = children_of(os.getpid())
            client = Client(
                stdio_client(params, errlog=errlog),
                mode="legacy" if self.mode == "legacy" else "auto",
                cache=None,  # every list reaches the server
                read_timeout_seconds=60,
            )
            async with client:
                yield client, spawned_pid(before)


def protocol_of(client: Any) -> str:
    v = client.protocol_version
    return f"{v} (modern)" if v in MODERN_PROTOCOL_VERSIONS else str(v)


async def list_all(client: Any) -> list[str]:
    names, cursor, pages = [], None, 0
    while pages == 0 or cursor is not None:
        page = await client.list_tools(cursor=cursor)
        names += [t.name for t in page.tools]
        cursor, pages = page.next_cursor, pages + 1
    return names


class Raw:
    """A minimal stdio JSON-RPC client: initialize, then one request line out, read lines until
    the answer with that id. No SDK, no validation: it shows what the server side costs."""

    def __init__(self, argv: list[str], errlog: str, env: dict[str, str] | None = None) -> None:
        self.errf = open(errlog, "a")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errf, env=env)
        self.out = self.p.stdout
        self.next_id = 1
        init = self.request("initialize", {"protocolVersion": LEGACY_VERSION, "capabilities": {},
                                           "clientInfo": {"name": "mcp-hub-bench", "version": "1"}})  # fmt: skip
        if "result" not in init:
            raise RuntimeError(f"initialize failed: {init}")
        self.notify("notifications/initialized")

    def send(self, data: bytes) -> None:
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def notify(self, method: str) -> None:
        self.send(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")

    def request(self, method: str, params: Json | None = None) -> Json:
        rid = self.next_id
        self.next_id += 1
        msg: Json = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        while True:
            line = self.out.readline()
            if not line:
                raise RuntimeError(f"{method}: the server closed stdout")
            reply = json.loads(line)
            if reply.get("id") == rid and "method" not in reply:
                return reply
            if "method" in reply and "id" in reply:  # a request from the server (roots/list): refuse it
                err = {"jsonrpc": "2.0", "id": reply["id"], "error": {"code": -32601, "message": "no"}}
                self.send(json.dumps(err).encode() + b"\n")

    def timed(self, method: str, params: Json | None, check) -> float:
        """Milliseconds from writing the request to having read its whole answer line (parsing and
        checking happen after the clock stops)."""
        rid = self.next_id
        self.next_id += 1
        data = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}},
                          separators=(",", ":")).encode() + b"\n"  # fmt: skip
        t0 = time.perf_counter_ns()
        self.send(data)
        line = self.out.readline()
        t1 = time.perf_counter_ns()
        reply = json.loads(line)
        while reply.get("id") != rid or "method" in reply:  # a notification slipped in: keep reading
            if "method" in reply and "id" in reply:  # a request from the server: refuse it
                err = {"jsonrpc": "2.0", "id": reply["id"], "error": {"code": -32601, "message": "no"}}
                self.send(json.dumps(err).encode() + b"\n")
            line = self.out.readline()
            t1 = time.perf_counter_ns()
            reply = json.loads(line)
        check(reply)
        return (t1 - t0) / 1e6

    def close(self) -> None:
        self.p.stdin.close()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.errf.close()


# ---------------------------------------------------------------- measurements


def echo_ok(text: str):
    def check(result: Any) -> None:
        content = result.content if hasattr(result, "content") else result["result"]["content"]
        got = content[0].text if hasattr(content[0], "text") else content[0]["text"]
        if getattr(result, "is_error", False) or text not in got:
            raise RuntimeError(f"unexpected echo answer: {got!r}")
    return check


async def sdk_echo(t: Target, calls: int, warmup: int) -> Json:
    tool = t.prefix + "echo"
    args = {"message": "hello"}
    check = echo_ok("hello")
    async with t.session() as (client, pid):
        for _ in range(warmup):  # the first call also fetches tools/list (the SDK's output-schema cache)
            check(await client.call_tool(tool, args))
        cpu0 = cpu_s(pid)
        lat = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            r = await client.call_tool(tool, args)
            lat.append((time.perf_counter_ns() - t0) / 1e6)
            check(r)
        cpu = cpu_s(pid) - cpu0
        return {"dist": dist(lat), "protocol": protocol_of(client), "cpu_us_per_call": cpu / calls * 1e6,
                **process_figures(pid)}  # fmt: skip


def raw_echo(t: Target, calls: int, warmup: int) -> Json:
    tool = t.prefix + "echo"
    params = {"name": tool, "arguments": {"message": "hello"}}
    check = echo_ok("hello")
    r = Raw(t.argv, t.errlog, t.env)
    try:
        if t.prefix:  # Fusion: its first answers wait for the child; settle before timing
            time.sleep(1.0)
        for _ in range(warmup):
            r.timed("tools/call", params, check)
        cpu0 = cpu_s(r.p.pid)
        lat = [r.timed("tools/call", params, check) for _ in range(calls)]
        cpu = cpu_s(r.p.pid) - cpu0
        return {"dist": dist(lat), "protocol": LEGACY_VERSION, "cpu_us_per_call": cpu / calls * 1e6,
                **process_figures(r.p.pid)}  # fmt: skip
    finally:
        r.close()


async def sdk_list(t: Target, lists: int, warmup: int, expect: int) -> Json:
    async with t.session() as (client, pid):
        await anyio.sleep(1.0)  # let every child settle (their own post-initialize list changes)
        for _ in range(warmup):
            names = await list_all(client)
        if len(names) < expect:
            raise RuntimeError(f"{t.name}: tools/list has {len(names)} tools, expected at least {expect}")
        cpu0 = cpu_s(pid)
        lat = []
        for _ in range(lists):
            t0 = time.perf_counter_ns()
            names = await list_all(client)
            lat.append((time.perf_counter_ns() - t0) / 1e6)
        cpu = cpu_s(pid) - cpu0
        return {"dist": dist(lat), "protocol": protocol_of(client), "tools": len(names),
                "cpu_us_per_call": cpu / lists * 1e6, **process_figures(pid)}  # fmt: skip


def raw_list(t: Target, lists: int, warmup: int, expect: int) -> Json:
    r = Raw(t.argv, t.errlog, t.env)
    seen = {}

    def check(reply: Json) -> None:
        result = reply["result"]
        if result.get("nextCursor"):
            raise RuntimeError("raw client: paginated tools/list is not handled")
        seen["tools"], seen["bytes"] = len(result["tools"]), len(json.dumps(result))

    try:
        time.sleep(1.0)
        for _ in range(warmup):
            r.timed("tools/list", None, check)
        if seen["tools"] < expect:
            raise RuntimeError(f"{t.name}: raw tools/list has {seen['tools']} tools, expected {expect}")
        cpu0 = cpu_s(r.p.pid)
        lat = [r.timed("tools/list", None, check) for _ in range(lists)]
        cpu = cpu_s(r.p.pid) - cpu0
        return {"dist": dist(lat), "protocol": LEGACY_VERSION, "tools": seen["tools"], "bytes": seen["bytes"],
                "cpu_us_per_call": cpu / lists * 1e6, **process_figures(r.p.pid)}  # fmt: skip
    finally:
        r.close()


def complete(names: list[str], expected: dict[str, int]) -> bool:
    """Every child prefix has at least its settled number of tools."""
    counts: dict[str, int] = {}
    for n in names:
        prefix = n.split("__", 1)[0] if "__" in n else ""
        counts[prefix] = counts.get(prefix, 0) + 1
    return all(counts.get(p, 0) >= c for p, c in expected.items())


async def cold_once(t: Target, expected: dict[str, int], limit_s: float = 20.0) -> Json:
    """Spawn, initialize, tools/list; relist on each tools/list_changed (or every 50 ms) until the
    list is complete, as a client that watches list changes would."""
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        nonlocal changed
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            changed.set()

    tag = os.urandom(8).hex()
    env = dict(t.env, MCP_HUB_BENCH_TAG=tag)  # finds the server process among this one's children
    fusion_log = None
    if t.argv[1:2] == ["mcp"]:  # Fusion: log each child's "ready" (INFO) to a file of this run's own
        env["FUSION_LOG"] = "info"
        fusion_log = f"{t.errlog}.cold"
    params = StdioServerParameters(command=t.argv[0], args=t.argv[1:], env=env)
    with open(fusion_log or t.errlog, "w" if fusion_log else "a") as errlog:
        wall0 = time.time()
        t0 = time.perf_counter()
        self0 = os.times()
        client = Client(stdio_client(params, errlog=errlog), mode="legacy", cache=None,
                        read_timeout_seconds=60, message_handler=on_message)  # fmt: skip
        async with client:
            t_init = time.perf_counter()
            lists = 0
            first_count = None
            while True:
                changed = anyio.Event()
                names = await list_all(client)
                lists += 1
                if first_count is None:
                    first_count, t_first = len(names), time.perf_counter()
                if complete(names, expected):
                    break
                if time.perf_counter() - t0 > limit_s:
                    raise RuntimeError(f"{t.name}: tools/list still incomplete after {limit_s} s: {len(names)}")
                with anyio.move_on_after(0.05):
                    await changed.wait()
            t_done = time.perf_counter()
            self1 = os.times()
            pid = tagged_child(tag)
            server_cpu = cpu_s(pid) if pid else None
            kids_cpu = sum(cpu_s(p) for p in tree(pid) if p != pid) if pid else None
        t_closed = time.perf_counter()
    out = {"ready_s": t_done - t0, "init_s": t_init - t0, "first_list_s": t_first - t0,
           "first_list_tools": first_count, "tools": len(names), "lists": lists,
           "close_s": t_closed - t_done, "server_cpu_s": server_cpu, "children_cpu_s": kids_cpu,
           "client_cpu_s": self1.user + self1.system - self0.user - self0.system}  # fmt: skip
    if fusion_log:
        ready = children_ready(fusion_log)
        if len(ready) == len(expected):
            out["last_child_ready_s"] = max(ready.values()) - wall0
            out["first_child_ready_s"] = min(ready.values()) - wall0
    return out


def tagged_child(tag: str) -> int | None:
    """The child of this process whose environment carries MCP_HUB_BENCH_TAG=tag."""
    needle = f"MCP_HUB_BENCH_TAG={tag}".encode()
    for pid in children_of(os.getpid()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    return pid
        except OSError:
            continue
    return None


def children_ready(path: str) -> dict[str, float]:
    """Wall-clock time of each child's "MCP child ready" line in a Fusion log (first one only)."""
    import datetime

    ready: dict[str, float] = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z .*MCP child ready.*server=\"?([\w-]+)", line)
            if m and m.group(2) not in ready:
                stamp = datetime.datetime.fromisoformat(m.group(1)[:26]).replace(tzinfo=datetime.timezone.utc)
                ready[m.group(2)] = stamp.timestamp()
    return ready


async def cold_parallel(targets: list[Target], expected: dict[str, int]) -> Json:
    """Each target started at once by this client, each listed once: time until all are done."""
    t0 = time.perf_counter()
    self0 = os.times()
    done: list[Json] = []

    async def one(t: Target) -> None:
        done.append(await cold_once(t, expected))

    async with anyio.create_task_group() as tg:
        for t in targets:
            tg.start_soon(one, t)
    # cold_once includes closing; the slowest ready time is what a client would wait for.
    self1 = os.times()
    return {"ready_s": max(d["ready_s"] for d in done), "wall_with_close_s": time.perf_counter() - t0,
            "tools": sum(d["tools"] for d in done), "lists": max(d["lists"] for d in done),
            "server_cpu_s": None, "children_cpu_s": sum(d["server_cpu_s"] or 0 for d in done),
            "client_cpu_s": self1.user + self1.system - self0.user - self0.system}  # fmt: skip


# ---------------------------------------------------------------- run


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def rotate(items: list, k: int) -> list:
    k %= len(items)
    return items[k:] + items[:k]


async def settled_counts(spec: Json, out: str) -> tuple[int, int, int]:
    """Tools of one child directly, and per child through Fusion once settled."""
    direct = Target("direct", [spec["everything"], "stdio"], "legacy", "", f"{out}/direct.err")
    async with direct.session() as (client, _):
        direct_n = len(await list_all(client))
    one = Target("fusion", [spec["fusion"], "mcp", "--config", spec["configs"]["one"]], "legacy", "e1__",
                 f"{out}/fusion-one.err")  # fmt: skip
    async with one.session() as (client, _):
        await anyio.sleep(2.0)
        names = await list_all(client)
    per_child = sum(1 for n in names if n.startswith("e1__"))
    own = sum(1 for n in names if "__" not in n)
    return direct_n, per_child, own


async def run(spec_path: str, out: str) -> None:
    if Client is None:
        sys.exit(f"the `mcp` SDK is not importable ({IMPORT_ERROR}): run scripts/install-peers.sh")
    spec = json.load(open(spec_path))
    rounds, calls, warmup = spec["rounds"], spec["calls"], spec["warmup"]
    lists, cold_runs = spec["lists"], spec["cold_runs"]
    fusion, everything = spec["fusion"], spec["everything"]
    one_cfg, ten_cfg = spec["configs"]["one"], spec["configs"]["ten"]
    err = lambda n: f"{out}/{n}.err"  # noqa: E731

    direct_tools, child_tools, own_tools = await settled_counts(spec, out)
    log(f"server-everything lists {direct_tools} tools directly, {child_tools} through Fusion "
        f"(+{own_tools} of Fusion's own)")  # fmt: skip
    results: Json = {"counts": {"direct": direct_tools, "per_child_via_fusion": child_tools, "fusion_own": own_tools},
                     "echo": {}, "list": {}, "cold": {}}  # fmt: skip

    # 1. echo latency
    direct = Target("direct", [everything, "stdio"], "legacy", "", err("direct"))
    f1 = [fusion, "mcp", "--config", one_cfg]
    # `fusion mcp` runs tokio's default multi-thread runtime (one worker per core); tokio reads
    # TOKIO_WORKER_THREADS, which shows what a single worker (like `fusion serve`'s default) would do.
    one_worker = {"TOKIO_WORKER_THREADS": "1"}
    echo_targets = [
        ("direct", lambda: sdk_echo(direct, calls, warmup)),
        ("fusion", lambda: sdk_echo(Target("fusion", f1, "legacy", "e1__", err("fusion-one")), calls, warmup)),
        ("fusion-modern", lambda: sdk_echo(Target("fusion-modern", f1, "auto", "e1__", err("fusion-one")), calls,
                                           warmup)),
        ("fusion-1w", lambda: sdk_echo(Target("fusion-1w", f1, "legacy", "e1__", err("fusion-one"), one_worker),
                                       calls, warmup)),
        ("raw-direct", lambda: anyio.to_thread.run_sync(lambda: raw_echo(direct, calls, warmup))),
        ("raw-fusion", lambda: anyio.to_thread.run_sync(
            lambda: raw_echo(Target("raw-fusion", f1, "legacy", "e1__", err("fusion-one")), calls, warmup))),
        ("raw-fusion-1w", lambda: anyio.to_thread.run_sync(
            lambda: raw_echo(Target("raw-fusion-1w", f1, "legacy", "e1__", err("fusion-one"), one_worker), calls,
                             warmup))),
    ]  # fmt: skip
    for r in range(rounds):
        for name, fn in rotate(echo_targets, r):
            res = await fn()
            res["load1"] = loadavg()
            results["echo"].setdefault(name, []).append(res)
            d = res["dist"]
            log(f"echo round {r + 1} {name}: p50 {d['p50']:.3f} p99 {d['p99']:.3f} max {d['max']:.3f} ms, "
                f"RSS {res['rss_kib'] / 1024:.1f} MiB")  # fmt: skip

    # 2. tools/list through Fusion with 10 children
    f10 = [fusion, "mcp", "--config", ten_cfg]
    expect10 = 10 * child_tools
    list_targets = [
        ("direct", lambda: sdk_list(direct, lists, 20, direct_tools)),
        ("fusion10", lambda: sdk_list(Target("fusion10", f10, "legacy", "", err("fusion-ten")), lists, 20, expect10)),
        ("fusion10-modern", lambda: sdk_list(Target("fusion10-modern", f10, "auto", "", err("fusion-ten")), lists, 20,
                                             expect10)),
        ("raw-direct", lambda: anyio.to_thread.run_sync(lambda: raw_list(direct, lists, 20, direct_tools))),
        ("raw-fusion10", lambda: anyio.to_thread.run_sync(
            lambda: raw_list(Target("raw-fusion10", f10, "legacy", "", err("fusion-ten")), lists, 20, expect10))),
    ]  # fmt: skip
    for r in range(rounds):
        for name, fn in rotate(list_targets, r):
            res = await fn()
            res["load1"] = loadavg()
            results["list"].setdefault(name, []).append(res)
            d = res["dist"]
            log(f"list round {r + 1} {name}: {res['tools']} tools, p50 {d['p50']:.3f} p99 {d['p99']:.3f} ms")

    # 3. cold start to a complete tools/list
    ten_expected = {f"e{i}": child_tools for i in range(10)}
    cold_targets = [
        ("fusion10", lambda: cold_once(Target("fusion10", f10, "legacy", "", err("fusion-ten")), ten_expected)),
        ("fusion1", lambda: cold_once(Target("fusion1", f1, "legacy", "", err("fusion-one")), {"e1": child_tools})),
        ("direct1", lambda: cold_once(direct, {"": direct_tools})),
        ("direct10", lambda: cold_parallel([direct] * 10, {"": direct_tools})),
    ]  # fmt: skip
    for r in range(rounds):
        for i in range(cold_runs):
            for name, fn in rotate(cold_targets, r + i):
                res = await fn()
                res["round"], res["load1"] = r + 1, loadavg()
                results["cold"].setdefault(name, []).append(res)
                log(f"cold round {r + 1} run {i + 1} {name}: {res['ready_s'] * 1000:.0f} ms "
                    f"({res['tools']} tools, {res['lists']} list call(s))")  # fmt: skip
                await anyio.sleep(0.5)  # let the closed processes go away
    json.dump(results, open(f"{out}/results.json", "w"), indent=1)


# ---------------------------------------------------------------- report


def median_run(runs: list[Json]) -> Json:
    """The run whose p50 is the median of the runs' p50s."""
    ordered = sorted(runs, key=lambda r: r["dist"]["p50"])
    return ordered[(len(ordered) - 1) // 2]


def med(values: list[float]) -> float:
    return statistics.median(values)


def f3(ms: float) -> str:
    return f"{ms:.3f}"


def added(runs: list[Json], base: list[Json], key: str) -> float:
    """Median over rounds of (target − base) for one percentile, paired round by round."""
    return med([a["dist"][key] - b["dist"][key] for a, b in zip(runs, base)])


def report(out: str, md_path: str) -> None:
    res = json.load(open(f"{out}/results.json"))
    meta = json.load(open(f"{out}/meta.json")) if os.path.exists(f"{out}/meta.json") else {}
    L: list[str] = []
    L.append("# Composite MCP node benchmark (`bench/mcp_hub.sh`)\n")
    if meta:
        L.append(f"{meta.get('date')}, fusion {meta.get('fusion_rev')}, {meta.get('cpus')} × {meta.get('cpu_model')}, "
                 f"{meta.get('mem_gib')} GiB, {meta.get('os')} (kernel {meta.get('kernel')}); Python "
                 f"{meta.get('python_version')}, mcp SDK {meta.get('mcp_version')}, server-everything "
                 f"{meta.get('everything_version')}, Node {meta.get('node_version')}.")  # fmt: skip
        L.append(f"Load average before measuring: {meta.get('load_before')}; after: {meta.get('load_after')}."
                 f"{' **Measured under load** (the machine did not become quiet).' if meta.get('under_load') else ''}"
                 + (f" **rustc/cargo ran during ~{meta['build_seconds_during_run']} s of the measurement.**"
                    if meta.get("build_seconds_during_run") else " No rustc/cargo ran during the measurement."))
        L.append(f"{meta.get('rounds')} rounds; {meta.get('calls')} calls after {meta.get('warmup')} warm-up; "
                 f"{meta.get('lists')} lists; {meta.get('cold_runs')} cold starts per target per round.\n")
    loads = [r["load1"] for phase in ("echo", "list", "cold") for runs in res[phase].values() for r in runs
             if "load1" in r]
    if loads:
        L.append(f"1-minute load average after each run: {min(loads):.2f}–{max(loads):.2f} (median "
                 f"{med(loads):.2f}; the measurement itself keeps one core busy).\n")
    c = res["counts"]
    L.append(f"server-everything lists {c['direct']} tools to the Python client and {c['per_child_via_fusion']} to "
             f"Fusion (which declares roots, sampling and elicitation, so the child adds its tools for those); "
             f"Fusion adds {c['fusion_own']} of its own.\n")  # fmt: skip

    e = res["echo"]
    names = {"direct": "direct to the child (SDK, legacy)", "fusion": "through Fusion (SDK, legacy)",
             "fusion-modern": "through Fusion (SDK, default mode)",
             "fusion-1w": "through Fusion, 1 runtime worker (SDK, legacy)", "raw-direct": "direct, raw stdio client",
             "raw-fusion": "through Fusion, raw stdio client",
             "raw-fusion-1w": "through Fusion, 1 runtime worker, raw"}  # fmt: skip
    L.append("## 1. `tools/call` echo latency, one session, sequential calls\n")
    L.append("Median run (by p50) of the rounds; \"added\" is the median over rounds of (target − its direct "
             "baseline) measured in the same round.\n")
    L.append("| target | protocol | p50 | p90 | p99 | max | added p50 | added p99 | server CPU / call | server RSS |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for key in ["direct", "fusion", "fusion-modern", "fusion-1w", "raw-direct", "raw-fusion", "raw-fusion-1w"]:
        if key not in e:
            continue
        m = median_run(e[key])
        d = m["dist"]
        base = e["raw-direct"] if key.startswith("raw") else e["direct"]
        is_base = key in ("direct", "raw-direct")
        ap = "—" if is_base else f"{added(e[key], base, 'p50'):+.3f}"
        a99 = "—" if is_base else f"{added(e[key], base, 'p99'):+.3f}"
        rss = f"{m['rss_kib'] / 1024:.1f} MiB" + ("" if is_base else f" (+ child {m['children_rss_kib'] / 1024:.0f} MiB)")
        L.append(f"| {names[key]} | {m['protocol']} | {f3(d['p50'])} | {f3(d['p90'])} | {f3(d['p99'])} | "
                 f"{f3(d['max'])} | {ap} | {a99} | {m['cpu_us_per_call']:.0f} µs | {rss} |")  # fmt: skip
    L.append("\nAll in ms. Per round (p50 / p99 / max):\n")
    for key, runs in e.items():
        L.append(f"- {names[key]}: " + "; ".join(f"{f3(r['dist']['p50'])} / {f3(r['dist']['p99'])} / "
                                                 f"{f3(r['dist']['max'])}" for r in runs))  # fmt: skip

    li = res["list"]
    lnames = {"direct": "one child directly (SDK, legacy)", "fusion10": "Fusion, 10 children (SDK, legacy)",
              "fusion10-modern": "Fusion, 10 children (SDK, default mode)", "raw-direct": "one child directly, raw",
              "raw-fusion10": "Fusion, 10 children, raw"}  # fmt: skip
    L.append("\n## 2. `tools/list` latency\n")
    L.append("| target | tools | p50 | p90 | p99 | max | server CPU / list | server RSS |")
    L.append("|---|---|---|---|---|---|---|---|")
    for key in ["direct", "fusion10", "fusion10-modern", "raw-direct", "raw-fusion10"]:
        if key not in li:
            continue
        m = median_run(li[key])
        d = m["dist"]
        size = f" ({m['bytes'] / 1024:.0f} KiB)" if "bytes" in m else ""
        L.append(f"| {lnames[key]} | {m['tools']}{size} | {f3(d['p50'])} | {f3(d['p90'])} | {f3(d['p99'])} | "
                 f"{f3(d['max'])} | {m['cpu_us_per_call']:.0f} µs | {m['rss_kib'] / 1024:.1f} MiB |")  # fmt: skip
    L.append("\nPer round (p50 / p99):\n")
    for key, runs in li.items():
        L.append(f"- {lnames[key]}: " + "; ".join(f"{f3(r['dist']['p50'])} / {f3(r['dist']['p99'])}" for r in runs))

    co = res["cold"]
    cnames = {"fusion10": "Fusion with 10 children", "fusion1": "Fusion with 1 child",
              "direct1": "one child alone, directly", "direct10": "10 children started directly at once (client-side)"}
    L.append("\n## 3. Cold start to a complete `tools/list`\n")
    L.append("Wall time from spawning the server to having a `tools/list` that holds every child's settled tool "
             "set. Median of each round's runs, then the median round; in brackets the fastest and slowest run "
             "of all rounds.\n")  # fmt: skip
    L.append("| target | ready (median) | range | to initialize answered | slowest child ready (Fusion's log) | "
             "ready − slowest child | CPU to ready: server / its children / client | tools | list calls needed | "
             "exit after the client closes |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for key in ["fusion10", "fusion1", "direct1", "direct10"]:
        if key not in co:
            continue
        runs = co[key]
        by_round: dict[int, list[Json]] = {}
        for r in runs:
            by_round.setdefault(r["round"], []).append(r)
        round_meds = sorted(med([r["ready_s"] for r in rr]) for rr in by_round.values())
        ready = round_meds[(len(round_meds) - 1) // 2]
        init = med([r["init_s"] for r in runs if "init_s" in r]) if any("init_s" in r for r in runs) else None
        lo, hi = min(r["ready_s"] for r in runs), max(r["ready_s"] for r in runs)
        lists = sorted({r["lists"] for r in runs})
        close = med([r["close_s"] for r in runs]) if all("close_s" in r for r in runs) else None
        def cpu(k: str) -> str:
            vals = [r[k] for r in runs if r.get(k) is not None]
            return f"{max(0.0, med(vals)) * 1000:.0f}" if vals else "—"

        cpus = f"{cpu('server_cpu_s')} / {cpu('children_cpu_s')} / {cpu('client_cpu_s')} ms"
        logged = [r for r in runs if "last_child_ready_s" in r]
        slowest = f"{med([r['last_child_ready_s'] for r in logged]) * 1000:.0f} ms" if logged else "—"
        after = (f"{med([(r['ready_s'] - r['last_child_ready_s']) * 1000 for r in logged]):.0f} ms "
                 f"(max {max((r['ready_s'] - r['last_child_ready_s']) * 1000 for r in logged):.0f})"
                 if logged else "—")  # fmt: skip
        L.append(f"| {cnames[key]} | **{ready * 1000:.0f} ms** | {lo * 1000:.0f}–{hi * 1000:.0f} ms | "
                 f"{'—' if init is None else f'{init * 1000:.0f} ms'} | {slowest} | {after} | {cpus} | {runs[0]['tools']} | "
                 f"{'/'.join(map(str, lists))} | {'—' if close is None else f'{close * 1000:.0f} ms'} |")  # fmt: skip
    L.append("\nPer round (median ready, ms): " + "; ".join(
        f"{cnames[k]}: " + ", ".join(
            f"{med([r['ready_s'] for r in co[k] if r['round'] == n]) * 1000:.0f}"
            for n in sorted({r['round'] for r in co[k]})) for k in co))  # fmt: skip
    text = "\n".join(L) + "\n"
    print(text)
    with open(md_path, "w") as f:
        f.write(text)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        anyio.run(run, sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
