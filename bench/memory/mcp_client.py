"""Drives `fusion mcp` (two real children) over stdio with the official `mcp` SDK for
bench/memory.sh: initialize, list the catalog, CALLS tool calls spread over both children,
then prints MCP_READY and waits for a line on stdin (the script samples Fusion's memory
meanwhile) before closing the session.
Usage: mcp_client.py FUSION CONFIG CALLS"""
import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    fusion, config, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The whole environment: FUSION_DATA_DIR keeps Fusion off the user's own data dir.
    params = StdioServerParameters(command=fusion, args=["mcp", "--config", config], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            names = {t.name for t in tools}
            time_tool = next(n for n in names if n.endswith("get_current_time"))
            echo_tool = next(n for n in names if n.endswith("echo"))
            for i in range(calls):
                if i % 2:
                    result = await session.call_tool(time_tool, {"timezone": "UTC"})
                else:
                    result = await session.call_tool(echo_tool, {"message": f"call {i}"})
                if result.is_error:
                    raise SystemExit(f"call {i} failed: {result.content}")
            print(f"MCP_READY tools={len(tools)} calls={calls}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


asyncio.run(main())
