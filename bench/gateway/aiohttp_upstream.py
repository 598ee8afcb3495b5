"""An independent fake model server for bench/gateway.sh (GW_UPSTREAM=aiohttp): aiohttp on
127.0.0.1, `POST /v1/chat/completions` answering the same fixed reply as mock-provider, plain or
streamed (three chunks, then `[DONE]`). Prints `UPSTREAM_URL=http://127.0.0.1:PORT/v1` once
listening. Not Fusion's code: a second, slower upstream like the one the outside probe used."""
import json
import socket
import sys
import time

from aiohttp import web

REPLY = "Hello from the mock."
USAGE = {"prompt_tokens": 8, "completion_tokens": 5, "total_tokens": 13}


async def completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = body.get("model", "fixed")
    created = int(time.time())
    if not body.get("stream"):
        return web.json_response({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                         "finish_reason": "stop"}],
            "usage": USAGE,
        })
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    def chunk(delta, finish=None):
        return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    for event in (chunk({"role": "assistant", "content": ""}), chunk({"content": REPLY}),
                  chunk({}, "stop")):
        await response.write(f"data: {json.dumps(event)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"UPSTREAM_URL=http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    web.run_app(app, sock=sock, access_log=None, print=None)


if __name__ == "__main__":
    sys.exit(main())
