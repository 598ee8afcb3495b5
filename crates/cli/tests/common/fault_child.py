"""A child MCP server (stdio, classic protocol) that turns faulty on request, for the fault tests.

Run by crates/cli/tests/faults_mcp_children.rs with "$FUSION_PEERS_PYTHON" (any Python 3 works:
only the standard library is used, because the faults are on the wire itself — lines the
official SDK would never write). It answers `initialize`, `ping`, `tools/list` and `tools/call`
like a well-behaved server until a fault tool is called:

  echo {text}          -> "echo: TEXT"
  hang {}              -> never answered (the request is remembered and forgotten)
  flood {kind, count}  -> COUNT notifications of KIND (message | progress | list_changed) as fast
                          as stdout takes them, then "flooded COUNT"
  garbage {}           -> non-JSON lines, a malformed JSON-RPC message and an answer with a wrong
                          id instead of the call's answer
  stats {}             -> JSON {"lists": N, "calls": N, "cancelled": [ids]} of this process

Options: --hang-lists-after N (tools/list is answered N times, then never); --slow-lists S (each
tools/list answer waits S seconds, on its own thread, so requests overlap); --state FILE (a
process started while FILE exists is the restarted one: `garbage` then answers normally; the
first process creates it); --events FILE (each `notifications/cancelled` received is appended
to FILE as "cancelled ID", so a test sees it after the process is gone). `stats` also says
"ppid", the pid of the process that started it (Fusion).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

LOCK = threading.RLock()
STATS = {"lists": 0, "calls": 0, "cancelled": []}


def send(message: dict) -> None:
    line = json.dumps(message) + "\n"
    with LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def raw(line: str) -> None:
    with LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def result(rid, value) -> None:
    send({"jsonrpc": "2.0", "id": rid, "result": value})


def error(rid, code: int, message: str) -> None:
    send({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})


def text(rid, body: str) -> None:
    result(rid, {"content": [{"type": "text", "text": body}], "isError": False})


TOOLS = [
    {"name": name, "description": f"fault tool {name}", "inputSchema": {"type": "object"}}
    for name in ("echo", "hang", "flood", "garbage", "stats")
]


def flood(rid, args: dict, token) -> None:
    kind = args.get("kind", "message")
    count = int(args.get("count", 1000))
    for i in range(count):
        if kind == "progress" and token is not None:
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": i + 1, "total": count}})
        elif kind == "list_changed":
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        else:
            send({"jsonrpc": "2.0", "method": "notifications/message",
                  "params": {"level": "info", "logger": "flood", "data": f"line {i}"}})
    text(rid, f"flooded {count}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hang-lists-after", type=int, default=-1)
    parser.add_argument("--slow-lists", type=float, default=0.0)
    parser.add_argument("--state")
    parser.add_argument("--events")
    options = parser.parse_args()
    restarted = bool(options.state) and os.path.exists(options.state)
    if options.state and not restarted:
        with open(options.state, "w") as f:
            f.write(str(os.getpid()))

    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        method = message.get("method")
        rid = message.get("id")
        params = message.get("params") or {}
        if rid is None:
            if method == "notifications/cancelled":
                with LOCK:
                    STATS["cancelled"].append(params.get("requestId"))
                if options.events:
                    with open(options.events, "a") as f:
                        f.write(f"cancelled {params.get('requestId')}\n")
            continue
        if method == "initialize":
            result(rid, {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {"listChanged": True}, "logging": {}},
                "serverInfo": {"name": "fault-child", "version": "1.0"},
            })
        elif method == "ping":
            result(rid, {})
        elif method == "logging/setLevel":
            result(rid, {})
        elif method == "tools/list":
            with LOCK:
                STATS["lists"] += 1
                lists = STATS["lists"]
            if 0 <= options.hang_lists_after < lists:
                continue
            if options.slow_lists > 0:
                def later(rid=rid):
                    time.sleep(options.slow_lists)
                    result(rid, {"tools": TOOLS})
                threading.Thread(target=later, daemon=True).start()
            else:
                result(rid, {"tools": TOOLS})
        elif method == "tools/call":
            with LOCK:
                STATS["calls"] += 1
            name = params.get("name")
            args = params.get("arguments") or {}
            token = (params.get("_meta") or {}).get("progressToken")
            if name == "echo":
                text(rid, f"echo: {args.get('text', '')}")
            elif name == "hang":
                pass
            elif name == "flood":
                flood(rid, args, token)
            elif name == "garbage" and not restarted:
                raw("this is not JSON at all")
                raw('{"jsonrpc": "2.0", "id": ')
                raw('{"jsonrpc": "2.0", "result": 42}')
                raw(json.dumps({"jsonrpc": "2.0", "id": 987654321,
                                "result": {"content": [{"type": "text", "text": "wrong id"}]}}))
            elif name == "garbage":
                text(rid, "garbage: answered cleanly after a restart")
            elif name == "stats":
                with LOCK:
                    text(rid, json.dumps(dict(STATS, ppid=os.getppid())))
            else:
                error(rid, -32602, f"unknown tool {name}")
        else:
            error(rid, -32601, f"Method not found: {method}")


if __name__ == "__main__":
    main()
