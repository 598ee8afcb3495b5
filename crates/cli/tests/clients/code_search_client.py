"""Drive Fusion's code-search tools with the official MCP Python SDK (`mcp` 2.x) over stdio.

Run by crates/cli/tests/code_search_mcp.rs with the peers' venv python ("$FUSION_PEERS_PYTHON",
see scripts/install-peers.sh). Prints exactly one JSON object on stdout; logs go to stderr.
Tool errors are data (reported, not raised); a crash exits non-zero with a traceback.

    code_search_client.py --command /path/fusion --arg mcp --arg --config --arg f.toml --root DIR
      [--scenario tools|reindex]

Output: tools (the listed names); index (code_index on DIR, with its progress notifications);
search (code_search "parseConfig"); alias_index (retriv_init with the replaced server's argument
names); alias_search (retriv_search "parse_config", limit 3); filtered (code_search by language
and path); errors: empty_query, missing_dir, unindexed, bad_argument. Each call is {is_error,
text, structured} or {error: {code, message}}.
Scenario reindex (for a server started with --reindex-every): index (code_index on DIR), then
writes DIR/src/fresh.rs and polls code_search "freshlyWrittenFunction" every 0.25 s for up to
30 s without calling code_index again: found (bool), polls, hits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from typing import Any

try:
    import anyio
    import mcp_types as types
    from mcp import Client, MCPError, StdioServerParameters
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `mcp` Python SDK is not importable ({exc}): run scripts/install-peers.sh", file=sys.stderr)
    sys.exit(3)

log = logging.getLogger("code_search_client")
Json = dict[str, Any]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--command", required=True)
    p.add_argument("--arg", action="append", default=[])
    p.add_argument("--root", required=True, help="the directory to index and search")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--scenario", choices=["tools", "reindex"], default="tools")
    raw, glued = list(sys.argv[1:]), []
    while raw:  # keep "--arg --config" together (argparse refuses values starting with "-")
        item = raw.pop(0)
        glued.append(f"--arg={raw.pop(0)}" if item == "--arg" and raw else item)
    return p.parse_args(glued)


async def observe(client: Client, name: str, arguments: Json, progress: list | None = None) -> Json:
    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append({"progress": value, "total": total, "message": message})

    try:
        result = await client.call_tool(name, arguments, progress_callback=on_progress)
    except MCPError as exc:
        return {"error": {"code": exc.error.code, "message": exc.error.message}}
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    return {"is_error": result.is_error, "text": text, "structured": result.structured_content}


async def reindex(client: Client, args: argparse.Namespace) -> Json:
    out: Json = {"index": await observe(client, "code_index", {"paths": [args.root]})}
    with open(os.path.join(args.root, "src", "fresh.rs"), "w") as f:
        f.write("pub fn freshly_written_function() {}\n")
    out["found"], out["polls"] = False, 0
    while out["polls"] < 120 and not out["found"]:
        await anyio.sleep(0.25)
        out["polls"] += 1
        found = await observe(client, "code_search", {"query": "freshlyWrittenFunction", "path": "src/fresh.rs"})
        out["hits"] = (found.get("structured") or {}).get("hits", [])
        out["found"] = bool(out["hits"])
    return out


async def run(args: argparse.Namespace) -> Json:
    target = StdioServerParameters(command=args.command, args=args.arg, env=dict(os.environ))
    out: Json = {}
    async with Client(target, cache=None, read_timeout_seconds=args.timeout) as client:
        if args.scenario == "reindex":
            return await reindex(client, args)
        out["tools"] = [t.name for t in (await client.list_tools()).tools]
        progress: list[Json] = []
        out["index"] = await observe(client, "code_index", {"paths": [args.root]}, progress)
        out["index"]["progress"] = progress
        out["search"] = await observe(client, "code_search", {"query": "parseConfig"})
        out["alias_index"] = await observe(
            client,
            "retriv_init",
            {
                "directories": [args.root],
                "exclude_patterns": ["*.md"],
                "chunk_size": 30,
                "force_reindex": True,
                "bm25_options": {"k1": 1.2, "b": 0.75},
            },
        )
        out["alias_search"] = await observe(client, "retriv_search", {"query": "parse_config", "limit": 3})
        out["filtered"] = await observe(
            client, "code_search", {"query": "config", "root": args.root, "lang": "python"}
        )
        with tempfile.TemporaryDirectory() as empty:
            out["errors"] = {
                "empty_query": await observe(client, "code_search", {"query": "  ++ "}),
                "missing_dir": await observe(client, "code_index", {"paths": [args.root + "/no/such/dir"]}),
                "unindexed": await observe(client, "code_search", {"query": "x", "root": empty}),
                "bad_argument": await observe(client, "code_search", {"query": "x", "top_k": 3}),
            }
    return out


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("MCP_CLIENT_SDK_LOG", "WARNING"))
    result = anyio.run(run, parse_args())
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
