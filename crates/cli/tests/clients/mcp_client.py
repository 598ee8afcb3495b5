"""Drive a Fusion MCP server with the official MCP Python SDK (`mcp` 2.x) and report what it saw.

Run by the Rust end-to-end tests with the peers' venv python ("$FUSION_PEERS_PYTHON", see
scripts/install-peers.sh). Prints exactly one JSON object on stdout; logs go to stderr. Exits 0
whenever the scenario ran to its end, even if the server answered with errors (those are data);
a crash exits non-zero with a traceback (exit 3: the `mcp` package is not installed).

    mcp_client.py --transport stdio --command /path/fusion --arg mcp --arg --config --arg f.toml
    mcp_client.py --transport http --url http://127.0.0.1:PORT/mcp [--header 'Authorization: Bearer k']
      [--mode default|legacy] --scenario list|ask|cancel|read|errors
      [--prompt TEXT] [--council NAME] [--then-prompt TEXT] [--then-council NAME]
      [--cancel-after-progress N | --cancel-after SECONDS] [--timeout SECONDS]

Output: always scenario, mode, transport; after a handshake protocol_version, server_info, the
scenario's keys, close_s and total_s; if the server answers the handshake with an error (e.g. HTTP
401) only connect_error {code, message}. Each tool call is reported as {is_error, text,
structured} (its result), {error: {code, message[, data]}} (a JSON-RPC error) or {exception,
message} (the SDK refused the result, e.g. structuredContent not matching the outputSchema).
  list: tools [{name, description, inputSchema, outputSchema}], resources [{uri, name, mimeType}]
  ask: the call, plus progress [{progress, total, message}] in arrival order
  cancel: cancelled, elapsed_s, progress so far, result/error (if the call ended before the cancel
    point), after (the --then-prompt call on the same session, with its progress)
  read: status, councils (each resource's JSON text, parsed), status_mimeType, councils_mimeType
  errors: unknown_tool, missing_prompt, wrong_type, unknown_council, unknown_method (a request
    with method "fusion/no_such_method"), still_serving (a normal call afterwards)

`--mode default` is `mcp.Client`'s own negotiation: `server/discover` at the newest protocol
(2026-07-28), falling back to `initialize` on a JSON-RPC error. `--mode legacy` is
`Client(..., mode="legacy")`: the classic `initialize` handshake (2025-11-25) and nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

try:
    import anyio
    import httpx2
    import mcp_types as types
    from mcp import Client, MCPError, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `mcp` Python SDK is not importable ({exc}): run scripts/install-peers.sh", file=sys.stderr)
    sys.exit(3)

log = logging.getLogger("mcp_client")
Json = dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--command", help="stdio: the server executable")
    p.add_argument("--arg", action="append", default=[], help="stdio: one argument (repeatable)")
    p.add_argument("--url", help="http: the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    p.add_argument("--header", action="append", default=[], help="http: 'Name: value' (repeatable)")
    p.add_argument("--mode", choices=["default", "legacy"], default="default")
    p.add_argument("--scenario", choices=["list", "ask", "cancel", "read", "errors"], required=True)
    p.add_argument("--prompt", default="Say hello.")
    p.add_argument("--council")
    p.add_argument("--then-prompt", help="cancel: a second fusion_ask on the same session afterwards")
    p.add_argument("--then-council", help="cancel: the council of the second call (default: the server's)")
    p.add_argument("--cancel-after-progress", type=int, metavar="N")
    p.add_argument("--cancel-after", type=float, metavar="SECONDS")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request read timeout (seconds)")
    # `--arg --config` must pass "--config" through: glue each --arg to its value first, since
    # argparse refuses a separate value that starts with "-".
    raw, glued = list(sys.argv[1:] if argv is None else argv), []
    while raw:
        item = raw.pop(0)
        glued.append(f"--arg={raw.pop(0)}" if item == "--arg" and raw else item)
    args = p.parse_args(glued)
    if args.transport == "stdio" and not args.command:
        p.error("--transport stdio needs --command")
    if args.transport == "http" and not args.url:
        p.error("--transport http needs --url")
    if args.scenario == "cancel" and args.cancel_after_progress is None and args.cancel_after is None:
        p.error("--scenario cancel needs --cancel-after-progress N or --cancel-after SECONDS")
    return args


def make_client(args: argparse.Namespace) -> Client:
    """An un-entered `mcp.Client` for the chosen transport and negotiation mode."""
    target: Any
    if args.transport == "stdio":
        # The SDK passes only a safe subset of the environment by default; the server under
        # test should see the caller's full environment (config paths, RUST_LOG, ...).
        target = StdioServerParameters(command=args.command, args=args.arg, env=dict(os.environ))
    else:
        headers = dict(_split_header(h) for h in args.header)
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        target = streamable_http_client(args.url, http_client=http)
    # cache=None: every list/read goes to the server, which is what the tests observe.
    return Client(
        target,
        mode="legacy" if args.mode == "legacy" else "auto",
        cache=None,
        read_timeout_seconds=args.timeout,
    )


def _split_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep:
        raise SystemExit(f"--header must be 'Name: value', got {raw!r}")
    return name.strip(), value.strip()


def describe_error(exc: BaseException) -> Json:
    """A JSON-RPC error as {code, message[, data]}; anything else as {exception, message}."""
    if isinstance(exc, MCPError):
        out: Json = {"code": exc.error.code, "message": exc.error.message}
        if exc.error.data is not None:
            out["data"] = exc.error.data
        return {"error": out}
    return {"exception": type(exc).__name__, "message": str(exc)}


def _only_mcp_error(exc: BaseException) -> MCPError | None:
    """The MCPError inside `exc` (the transports' task groups wrap it), if that is all there is."""
    if isinstance(exc, MCPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [_only_mcp_error(e) for e in exc.exceptions]
        if found and all(found):
            return found[0]
    return None


def describe_result(result: types.CallToolResult) -> Json:
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    return {"is_error": result.is_error, "text": text, "structured": result.structured_content}


async def observe(call: Callable[[], Awaitable[types.CallToolResult]]) -> Json:
    """Run one tool call; its result or its error, both as data."""
    try:
        return describe_result(await call())
    except Exception as exc:  # noqa: BLE001 - any answer is data: report it, keep the session
        log.info("call failed: %r", exc)
        return describe_error(exc)


def ask_args(prompt: Any, council: str | None) -> Json:
    return {"prompt": prompt} | ({"council": council} if council is not None else {})


class Progress:
    """Collects progress notifications in arrival order; optionally cancels a scope after N."""

    def __init__(self, cancel_after: int | None = None, scope: anyio.CancelScope | None = None) -> None:
        self.seen: list[Json] = []
        self._cancel_after, self._scope = cancel_after, scope

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append({"progress": progress, "total": total, "message": message})
        log.info("progress %s/%s %s", progress, total, message)
        if (
            self._scope is not None
            and self._cancel_after is not None
            and len(self.seen) >= self._cancel_after
        ):
            self._scope.cancel()


async def scenario_list(client: Client, args: argparse.Namespace) -> Json:
    tools = (await client.list_tools()).tools
    resources = (await client.list_resources()).resources
    return {
        "tools": [
            {
                "name": t.name,
                "description": t.description,
                "inputSchema": t.input_schema,
                "outputSchema": t.output_schema,
            }
            for t in tools
        ],
        "resources": [{"uri": str(r.uri), "name": r.name, "mimeType": r.mime_type} for r in resources],
    }


async def scenario_ask(client: Client, args: argparse.Namespace) -> Json:
    progress = Progress()
    out = await observe(
        lambda: client.call_tool(
            "fusion_ask", ask_args(args.prompt, args.council), progress_callback=progress
        )
    )
    return out | {"progress": progress.seen}


async def scenario_cancel(client: Client, args: argparse.Namespace) -> Json:
    """Abandon a running fusion_ask by cancelling its anyio scope.

    On cancellation the SDK's dispatcher sends `notifications/cancelled` {requestId, reason:
    "caller cancelled"} - over stdio in both eras, over HTTP at 2025-11-25 as a POST. Over
    HTTP at 2026-07-28 the transport swallows that frame and aborts the request's POST (closing
    its SSE response stream), which is that era's cancellation signal.
    """
    scope = anyio.CancelScope()
    if args.cancel_after is not None:
        scope.deadline = anyio.current_time() + args.cancel_after
    progress = Progress(args.cancel_after_progress, scope)
    out: Json = {"cancelled": False}
    started = time.monotonic()
    with scope:
        first = await observe(
            lambda: client.call_tool(
                "fusion_ask", ask_args(args.prompt, args.council), progress_callback=progress
            )
        )
        out["result"] = first  # finished before the cancel point
        if "error" in first or "exception" in first:
            out["error"] = first
    out["cancelled"] = scope.cancelled_caught
    out["elapsed_s"] = round(time.monotonic() - started, 3)
    out["progress"] = list(progress.seen)
    if args.then_prompt is not None:
        after = Progress()
        out["after"] = await observe(
            lambda: client.call_tool(
                "fusion_ask", ask_args(args.then_prompt, args.then_council), progress_callback=after
            )
        )
        out["after"]["progress"] = after.seen
    return out


async def scenario_read(client: Client, args: argparse.Namespace) -> Json:
    out: Json = {}
    for key, uri in (("status", "fusion://status"), ("councils", "fusion://councils")):
        try:
            contents = (await client.read_resource(uri)).contents
            texts = [c.text for c in contents if isinstance(c, types.TextResourceContents)]
            out[key] = json.loads(texts[0]) if texts else None
            out[f"{key}_mimeType"] = contents[0].mime_type if contents else None
        except Exception as exc:  # noqa: BLE001 - reported as data
            out[key] = describe_error(exc)
    return out


async def scenario_errors(client: Client, args: argparse.Namespace) -> Json:
    def ask(arguments: Json) -> Callable[[], Awaitable[types.CallToolResult]]:
        return lambda: client.call_tool("fusion_ask", arguments)

    out: Json = {
        "unknown_tool": await observe(lambda: client.call_tool("no_such_tool", {})),
        "missing_prompt": await observe(ask({})),
        "wrong_type": await observe(ask({"prompt": 5})),
        "unknown_council": await observe(ask(ask_args(args.prompt, "no_such_council"))),
    }
    # A request with a method no MCP version defines, through the session's typed send_request
    # (the generic Request model takes any method name).
    try:
        request = types.Request[types.RequestParams | None, str](method="fusion/no_such_method", params=None)
        await client.session.send_request(request, types.EmptyResult)
        out["unknown_method"] = {"answered": "result"}
    except Exception as exc:  # noqa: BLE001 - reported as data
        out["unknown_method"] = describe_error(exc)
    out["still_serving"] = await observe(ask(ask_args(args.prompt, args.council)))
    return out


SCENARIOS: dict[str, Callable[[Client, argparse.Namespace], Awaitable[Json]]] = {
    "list": scenario_list,
    "ask": scenario_ask,
    "cancel": scenario_cancel,
    "read": scenario_read,
    "errors": scenario_errors,
}


async def run(args: argparse.Namespace) -> Json:
    started = time.monotonic()
    out: Json = {"scenario": args.scenario, "mode": args.mode, "transport": args.transport}
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(make_client(args))
        except (MCPError, BaseExceptionGroup) as exc:
            refusal = _only_mcp_error(exc)
            if refusal is None or refusal.error.code == types.CONNECTION_CLOSED:
                raise  # no answer at all (the server died, nothing listens): a crash
            # The server answered the handshake with an error (e.g. HTTP 401): data as well.
            log.info("connect refused: %r", refusal)
            return out | {"connect_error": describe_error(refusal)["error"]}
        info = client.server_info
        log.info("connected: protocol %s, server %s", client.protocol_version, info)
        out["protocol_version"] = client.protocol_version
        out["server_info"] = info.model_dump(mode="json", exclude_none=True) if info else None
        out |= await SCENARIOS[args.scenario](client, args)
        closing = time.monotonic()
    # stdio: the SDK closes the server's stdin, waits 2 s for it to exit, then SIGTERMs (SIGKILL
    # 2 s later), so close_s near 2 or more means the server ignored end of input.
    out["close_s"] = round(time.monotonic() - closing, 3)
    out["total_s"] = round(time.monotonic() - started, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("MCP_CLIENT_SDK_LOG", "WARNING"),
        format="[mcp_client] %(levelname)s %(name)s: %(message)s",
    )
    log.setLevel(os.environ.get("MCP_CLIENT_LOG", "INFO"))
    args = parse_args(argv)
    result = anyio.run(run, args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
