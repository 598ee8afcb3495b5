"""Hold one MCP session open (official `mcp` 2.x SDK) and run commands read from stdin.

Run by the Rust end-to-end tests with "$FUSION_PEERS_PYTHON" (scripts/install-peers.sh). Target
arguments as in mcp_client.py:

    mcp_session.py --transport stdio --command X [--arg A ...] | --transport http --url U [--header 'N: v']
      [--mode default|legacy] [--timeout S] [--log-level LEVEL] [--sampling-reply TEXT]
      [--elicitation-reply JSON] [--roots PATH ...]

One JSON object per line in; exactly one JSON object per line out (flushed) for each, in order.
The first line out is the handshake: {"op": "connect", "ok": true, elapsed_s, protocol_version,
server_info, capabilities, instructions}, or {"op": "connect", "ok": false, "error"} and exit 0
if the server answered with a JSON-RPC error (exit 1 if it never answered). Each answer carries
"op", "ok" and the command's "id" if it had one; "ok": false when the command raised, with
"error" {code, message[, data]} (failures on the SDK's side: code null, plus "exception"). A
failing command never ends the session; "quit" or the end of input closes it, answered by
{"op": "quit", "ok": true, "closed": true, close_s}, exit 0. Commands and their answers:
  info                                   -> protocol_version, server_info, capabilities, instructions
  list_tools|list_prompts|list_resources|list_resource_templates
                                         -> every page: pages, tools [{name, description, inputSchema,
                                            outputSchema}] | prompts [{name, description, arguments}] |
                                            resources [{uri, name, mimeType}] |
                                            resource_templates [{uriTemplate, name, mimeType}]
  list_page {what, cursor}               -> one page: what, items (names, URIs or URI templates), nextCursor
  call {tool, args, progress, log_level, timeout_s}
                                         -> is_error, text, structured, content, progress
                                            [{progress, total, message}], logs (log params received meanwhile)
  start_call {tag, ...as call}           -> tag (the call runs in the background)
  await_call {tag, timeout_s}            -> tag, result (the call's own answer, with its "ok")
  cancel_call {tool, args, after_s}      -> cancelled, elapsed_s, progress, result (if it ended first)
  get_prompt {name, args}                -> description, messages [{role, text, content}]
  read {uri}                             -> contents [{uri, mimeType, text | blob_len}]
  complete {ref, argument, context}      -> values, total, hasMore
  set_level {level}                      -> via ("logging/setLevel", or "_meta" at 2026-07-28, where
                                            logging is opted into per request: later calls carry it)
  subscribe {uri} | unsubscribe {uri}    -> (resources/subscribe; up to 2025-11-25)
  listen {tools, prompts, resources, uris}
                                         -> honored (2026-07-28 subscriptions/listen, held open)
  wait_notification {method, after_seq, timeout_s}
                                         -> found, seq, params (first such notification after after_seq)
  notifications {since_seq}              -> notifications [{seq, method, params}], sampling [{seq,
                                            messages [{role, text}], maxTokens, systemPrompt}],
                                            elicitations [{seq, params}], roots_requests, last_seq
Notifications, sampling and elicitation requests are numbered by one counter in arrival order.
Binary payloads are reported by length: "blob" -> "blob_len", image/audio "data" -> "data_len".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import anyio
    import httpx2
    import mcp_types as types
    from anyio.abc import TaskGroup
    from mcp import Client, MCPDeprecationWarning, MCPError, StdioServerParameters
    from mcp.client.session import ClientRequestContext, IncomingMessage
    from mcp.client.streamable_http import streamable_http_client
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `mcp` Python SDK is not importable ({exc}): run scripts/install-peers.sh", file=sys.stderr)
    sys.exit(3)

from mcp_client import _only_mcp_error, _split_header, describe_error

warnings.filterwarnings("ignore", category=MCPDeprecationWarning)  # setLevel, subscribe: on purpose
log = logging.getLogger("mcp_session")
Json = dict[str, Any]
LIST_PAGE_CAP = 1000

# What each listing reports of an item, and which field names it in list_page.
SUMMARIES: dict[str, tuple[str, Callable[[Any], Json]]] = {
    "tools": ("name", lambda t: {"name": t.name, "description": t.description,
                                 "inputSchema": t.input_schema, "outputSchema": t.output_schema}),
    "prompts": ("name", lambda p: {"name": p.name, "description": p.description,
                                   "arguments": dump(p.arguments or [])}),
    "resources": ("uri", lambda r: {"uri": str(r.uri), "name": r.name, "mimeType": r.mime_type}),
    "resource_templates": ("uriTemplate", lambda t: {"uriTemplate": t.uri_template, "name": t.name,
                                                     "mimeType": t.mime_type}),
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--command", help="stdio: the server executable")
    p.add_argument("--arg", action="append", default=[], help="stdio: one argument (repeatable)")
    p.add_argument("--url", help="http: the MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    p.add_argument("--header", action="append", default=[], help="http: 'Name: value' (repeatable)")
    p.add_argument("--mode", choices=["default", "legacy"], default="default")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request read timeout (seconds)")
    p.add_argument("--log-level", help="2026-07-28: the log level stamped on every request's _meta")
    p.add_argument("--sampling-reply", metavar="TEXT", help="answer sampling/createMessage with TEXT")
    p.add_argument("--elicitation-reply", metavar="JSON", help="accept elicitation/create with this content")
    p.add_argument("--roots", nargs="+", metavar="PATH", help="answer roots/list with these file:// roots")
    raw, glued = list(sys.argv[1:] if argv is None else argv), []
    while raw:  # as in mcp_client.py: `--arg --config` passes "--config" through
        item = raw.pop(0)
        glued.append(f"--arg={raw.pop(0)}" if item == "--arg" and raw else item)
    args = p.parse_args(glued)
    if args.transport == "stdio" and not args.command:
        p.error("--transport stdio needs --command")
    if args.transport == "http" and not args.url:
        p.error("--transport http needs --url")
    return args


def dump(value: Any) -> Any:
    """A model (or list of them) as JSON by wire names, binary payloads replaced by their lengths."""
    if isinstance(value, list):
        return [dump(v) for v in value]
    return _shrink(value.model_dump(mode="json", by_alias=True, exclude_none=True))


def _shrink(data: Any) -> Any:
    if isinstance(data, list):
        return [_shrink(v) for v in data]
    if not isinstance(data, dict):
        return data
    binary = {"blob"} | ({"data"} if data.get("type") in ("image", "audio") else set())
    return {
        (f"{k}_len" if k in binary else k): (len(v) if k in binary else _shrink(v)) for k, v in data.items()
    }


def error_of(exc: BaseException) -> Json:
    """{code, message[, data]} for a JSON-RPC error; code null plus the exception's type otherwise."""
    if isinstance(exc, BaseExceptionGroup):  # the transports' task groups wrap what went wrong
        exc = _only_mcp_error(exc) or exc
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
    described = describe_error(exc)
    if "error" in described:
        return dict(described["error"])
    return {"code": None, "message": described["message"], "exception": described["exception"]}


def text_of(content: Any) -> str:
    """The text of a content block or a list of them (sampling messages may carry either)."""
    blocks = content if isinstance(content, list) else [content]
    return "".join(b.text for b in blocks if isinstance(b, types.TextContent))


class Progress:
    """A progress callback that keeps what it was told, in arrival order."""

    def __init__(self) -> None:
        self.seen: list[Json] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append({"progress": progress, "total": total, "message": message})


class Recorder:
    """Everything the server sent on its own, numbered in arrival order."""

    def __init__(self) -> None:
        self.seq = 0
        self.notifications: list[Json] = []
        self.sampling: list[Json] = []
        self.elicitations: list[Json] = []
        self.roots_requests = 0
        self._changed = anyio.Event()

    def next_seq(self) -> int:
        self.seq += 1
        self._changed.set()
        self._changed = anyio.Event()
        return self.seq

    async def on_message(self, message: IncomingMessage) -> None:
        """`message_handler`: every notification the session surfaces (logging ones included)."""
        if isinstance(message, Exception):
            entry: Json = {"method": "transport/exception", "params": {"message": repr(message)}}
        else:
            params = getattr(message, "params", None)
            entry = {"method": message.method, "params": dump(params) if params is not None else None}
        self.notifications.append({"seq": self.next_seq()} | entry)
        log.info("notification %s %s", entry["method"], entry["params"])

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        """`logging_callback`: on_message records logs too; this one only tells stderr."""
        log.info("server log [%s] %s", params.level, params.data)

    def since(self, seq: int, method: str | None = None) -> list[Json]:
        return [n for n in self.notifications if n["seq"] > seq and method in (None, n["method"])]

    async def wait_for(self, method: str, after_seq: int, timeout_s: float) -> Json | None:
        with anyio.move_on_after(timeout_s):
            while True:
                changed = self._changed
                if found := self.since(after_seq, method):
                    return found[0]
                await changed.wait()
        return None


def make_client(args: argparse.Namespace, rec: Recorder) -> Client:
    """An un-entered `mcp.Client` for the target, with the requested client-side capabilities."""
    target: Any
    if args.transport == "stdio":  # the server sees the caller's whole environment
        target = StdioServerParameters(command=args.command, args=args.arg, env=dict(os.environ))
    else:
        headers = dict(_split_header(h) for h in args.header)
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        target = streamable_http_client(args.url, http_client=http)

    async def sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        messages = [{"role": m.role, "text": text_of(m.content)} for m in params.messages]
        rec.sampling.append(
            {"seq": rec.next_seq(), "messages": messages, "maxTokens": params.max_tokens,
             "systemPrompt": params.system_prompt}
        )  # fmt: skip
        reply = types.TextContent(type="text", text=args.sampling_reply)
        return types.CreateMessageResult(
            role="assistant", content=reply, model="test-client", stop_reason="endTurn"
        )

    async def elicitation(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        rec.elicitations.append({"seq": rec.next_seq(), "params": dump(params)})
        return types.ElicitResult(action="accept", content=json.loads(args.elicitation_reply))

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        rec.roots_requests += 1
        uris = [r if r.startswith("file://") else Path(r).resolve().as_uri() for r in args.roots]
        return types.ListRootsResult(
            roots=[types.Root.model_validate({"uri": u, "name": Path(u[7:]).name or "/"}) for u in uris]
        )

    return Client(
        target,
        mode="legacy" if args.mode == "legacy" else "auto",
        cache=None,  # every list/read reaches the server, which is what the tests observe
        read_timeout_seconds=args.timeout,
        log_level=args.log_level,
        sampling_callback=sampling if args.sampling_reply is not None else None,
        elicitation_callback=elicitation if args.elicitation_reply is not None else None,
        list_roots_callback=roots if args.roots else None,
        logging_callback=rec.on_log,
        message_handler=rec.on_message,
    )


def describe_result(result: types.CallToolResult) -> Json:
    return {
        "is_error": bool(result.is_error),
        "text": "".join(c.text for c in result.content if isinstance(c, types.TextContent)),
        "structured": result.structured_content,
        "content": dump(list(result.content)),
    }


class Driver:
    """Runs one command at a time against the open session; background work goes to `tg`."""

    def __init__(self, client: Client, rec: Recorder, tg: TaskGroup) -> None:
        self.client, self.rec, self.tg = client, rec, tg
        self.log_level: str | None = None  # set_level at 2026-07-28: stamped on later calls' _meta
        self.calls: dict[str, tuple[anyio.Event, list[Json]]] = {}

    async def op_info(self, cmd: Json) -> Json:
        c = self.client
        return {
            "protocol_version": c.protocol_version,
            "server_info": dump(c.server_info) if c.server_info else None,
            "capabilities": dump(c.server_capabilities),
            "instructions": c.instructions,
        }

    async def _page(self, what: str, cursor: str | None) -> tuple[list[Json], str | None]:
        c = self.client
        fetch = {"tools": c.list_tools, "prompts": c.list_prompts, "resources": c.list_resources,
                 "resource_templates": c.list_resource_templates}[what]  # fmt: skip
        page = await fetch(cursor=cursor)
        return [SUMMARIES[what][1](item) for item in getattr(page, what)], page.next_cursor

    async def op_list(self, cmd: Json) -> Json:
        """list_tools, list_prompts, ...: every page, following nextCursor."""
        what, cursor, pages = cmd["what"], None, 0
        items: list[Json] = []
        while pages == 0 or cursor is not None:
            if pages >= LIST_PAGE_CAP:
                raise RuntimeError(f"{what}: still a nextCursor after {pages} pages")
            page, cursor = await self._page(what, cursor)
            items, pages = items + page, pages + 1
        return {"pages": pages, what: items}

    async def op_list_page(self, cmd: Json) -> Json:
        what = cmd["what"]
        items, cursor = await self._page(what, cmd.get("cursor"))
        return {"what": what, "items": [i[SUMMARIES[what][0]] for i in items], "nextCursor": cursor}

    async def op_call(self, cmd: Json) -> Json:
        progress = Progress()
        modern = self.client.protocol_version in MODERN_PROTOCOL_VERSIONS
        level = cmd.get("log_level", self.log_level if modern else None)
        meta: Any = {types.LOG_LEVEL_META_KEY: level} if level is not None else None
        start_seq = self.rec.seq
        try:
            result = await self.client.call_tool(
                cmd["tool"], cmd.get("args") or {}, read_timeout_seconds=cmd.get("timeout_s"),
                progress_callback=progress if cmd.get("progress") else None, meta=meta,
            )  # fmt: skip
        finally:
            await anyio.sleep(0.01)  # progress callbacks run as spawned tasks: let the last ones land
        logs = [n["params"] for n in self.rec.since(start_seq, "notifications/message")]
        return describe_result(result) | {"progress": progress.seen, "logs": logs}

    async def op_start_call(self, cmd: Json) -> Json:
        done, box = anyio.Event(), list[Json]()
        self.calls[cmd["tag"]] = (done, box)

        async def run() -> None:
            box.append(await self.run({**cmd, "op": "call"}))
            done.set()

        self.tg.start_soon(run)
        return {"tag": cmd["tag"]}

    async def op_await_call(self, cmd: Json) -> Json:
        done, box = self.calls[cmd["tag"]]
        with anyio.move_on_after(float(cmd.get("timeout_s", 120.0))):
            await done.wait()
        if not box:
            raise TimeoutError(f"call {cmd['tag']!r} still running")
        del self.calls[cmd["tag"]]
        return {"tag": cmd["tag"], "result": box[0]}

    async def op_cancel_call(self, cmd: Json) -> Json:
        """Abandon a call by cancelling its scope after `after_s`: the SDK then sends
        notifications/cancelled (stdio; HTTP at 2025-11-25) or aborts the request's POST (HTTP at
        2026-07-28)."""
        progress, out, started = Progress(), {}, time.monotonic()
        with anyio.CancelScope(deadline=anyio.current_time() + float(cmd["after_s"])) as scope:
            try:
                result = await self.client.call_tool(
                    cmd["tool"], cmd.get("args") or {}, progress_callback=progress
                )
                out["result"] = describe_result(result)
            except Exception as exc:  # noqa: BLE001 - the call's error is data
                out["result"] = {"error": error_of(exc)}
        elapsed = round(time.monotonic() - started, 3)
        return out | {"cancelled": scope.cancelled_caught, "elapsed_s": elapsed, "progress": progress.seen}

    async def op_get_prompt(self, cmd: Json) -> Json:
        result = await self.client.get_prompt(cmd["name"], cmd.get("args"))
        messages = [
            {"role": m.role, "text": text_of(m.content), "content": dump(m.content)} for m in result.messages
        ]
        return {"description": result.description, "messages": messages}

    async def op_read(self, cmd: Json) -> Json:
        return {"contents": dump(list((await self.client.read_resource(cmd["uri"])).contents))}

    async def op_complete(self, cmd: Json) -> Json:
        kind = (
            types.PromptReference
            if cmd["ref"].get("type") == "ref/prompt"
            else types.ResourceTemplateReference
        )
        result = await self.client.complete(
            kind.model_validate(cmd["ref"]), cmd["argument"], cmd.get("context")
        )
        c = result.completion
        return {"values": c.values, "total": c.total, "hasMore": c.has_more}

    async def op_set_level(self, cmd: Json) -> Json:
        if self.client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            self.log_level = cmd["level"]
            return {"via": "_meta"}
        await self.client.session.set_logging_level(cmd["level"])
        return {"via": "logging/setLevel"}

    async def op_subscribe(self, cmd: Json) -> Json:
        await self.client.session.subscribe_resource(cmd["uri"])
        return {}

    async def op_unsubscribe(self, cmd: Json) -> Json:
        await self.client.session.unsubscribe_resource(cmd["uri"])
        return {}

    async def op_listen(self, cmd: Json) -> Json:
        """Hold a subscriptions/listen stream open in the background; its events reach the recorder."""
        acked, outcome = anyio.Event(), []

        async def hold() -> None:
            try:
                async with self.client.listen(
                    tools_list_changed=bool(cmd.get("tools")),
                    prompts_list_changed=bool(cmd.get("prompts")),
                    resources_list_changed=bool(cmd.get("resources")),
                    resource_subscriptions=cmd.get("uris", []),
                ) as sub:
                    outcome.append(dump(sub.honored))
                    acked.set()
                    async for _ in sub:
                        pass
            except Exception as exc:  # noqa: BLE001 - refused: the command reports it; later: logged
                if not acked.is_set():
                    outcome.append(exc)
                log.info("listen stream ended: %r", exc)
            finally:
                acked.set()

        self.tg.start_soon(hold)
        with anyio.fail_after(float(cmd.get("timeout_s", 30.0))):
            await acked.wait()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return {"honored": outcome[0]}

    async def op_wait_notification(self, cmd: Json) -> Json:
        after, timeout = int(cmd.get("after_seq", 0)), float(cmd.get("timeout_s", 10.0))
        hit = await self.rec.wait_for(cmd["method"], after, timeout)
        return {"found": hit is not None, "seq": hit and hit["seq"], "params": hit and hit["params"]}

    async def op_notifications(self, cmd: Json) -> Json:
        since, rec = int(cmd.get("since_seq", 0)), self.rec
        return {
            "notifications": rec.since(since),
            "sampling": [s for s in rec.sampling if s["seq"] > since],
            "elicitations": [e for e in rec.elicitations if e["seq"] > since],
            "roots_requests": rec.roots_requests,
            "last_seq": rec.seq,
        }

    async def run(self, cmd: Json) -> Json:
        """One command's answer; whatever it raises becomes {"ok": false, "error"}."""
        op = cmd.get("op")
        head: Json = {"op": op} | ({"id": cmd["id"]} if "id" in cmd else {})
        if isinstance(op, str) and op.startswith("list_") and op[5:] in SUMMARIES:
            cmd, op = cmd | {"what": op[5:]}, "list"
        handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        try:
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            answer: Json = await handler(cmd)
            return head | {"ok": True} | answer
        except Exception as exc:  # noqa: BLE001 - any failure is data: report it, keep the session
            log.info("%s failed: %r", op, exc)
            return head | {"ok": False, "error": error_of(exc)}


def emit(obj: Json) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace) -> int:
    rec, started = Recorder(), time.monotonic()
    client = make_client(args, rec)
    try:
        await client.__aenter__()
    except (MCPError, BaseExceptionGroup, OSError) as exc:
        refusal = _only_mcp_error(exc)
        emit({"op": "connect", "ok": False, "error": error_of(exc)})
        return 0 if refusal is not None and refusal.error.code != types.CONNECTION_CLOSED else 1
    try:
        async with anyio.create_task_group() as tg:
            driver = Driver(client, rec, tg)
            elapsed = round(time.monotonic() - started, 3)
            emit({"op": "connect", "ok": True, "elapsed_s": elapsed} | await driver.op_info({}))
            async for line in anyio.wrap_file(
                sys.stdin
            ):  # read in a worker thread: notifications keep flowing
                if not line.strip():
                    continue
                try:
                    cmd = json.loads(line)
                    if not isinstance(cmd, dict):
                        raise TypeError("a command is a JSON object")
                except (ValueError, TypeError) as exc:
                    emit({"op": None, "ok": False, "error": {"code": None, "message": f"bad command: {exc}"}})
                    continue
                if cmd.get("op") == "quit":
                    break
                emit(await driver.run(cmd))
            tg.cancel_scope.cancel()  # background calls and listen streams
    finally:
        closing = time.monotonic()
        await client.__aexit__(None, None, None)
    # stdio: the SDK closes the server's stdin, waits 2 s for it to exit, then SIGTERMs it.
    emit({"op": "quit", "ok": True, "closed": True, "close_s": round(time.monotonic() - closing, 3)})
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("MCP_CLIENT_SDK_LOG", "WARNING"),
        format="[mcp_session] %(levelname)s %(name)s: %(message)s",
    )
    log.setLevel(os.environ.get("MCP_CLIENT_LOG", "INFO"))
    return anyio.run(serve, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
