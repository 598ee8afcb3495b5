"""Drives a running `fusion serve` with the official OpenAI Python client.

Usage: python openai_client.py BASE_URL SCENARIO [API_KEY]

Each scenario exits 0 when the client sees what an OpenAI-compatible server must give it, or
prints the reason and exits 1. Exit 3 means the `openai` package is not installed.

The model ids and texts below mirror the mock script in `../openai_client.rs`: keep them in sync.
"""

import json
import sys
import threading
import urllib.request

try:
    import openai
    from openai import OpenAI
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `openai` Python package is not importable ({exc}): run scripts/install-peers.sh")
    sys.exit(3)

# Mirrors of the Rust side's script.
CHAT_MODEL = "chat"
CHAT_TEXT = "Hello from the mock provider, one word per chunk."
PANEL = ["m-a", "m-b", "m-c"]
COUNCIL = "fusion/default"
COUNCIL_ANSWER = "FINAL: Paris."
SLOW_MODEL = "slow"
BROKEN_MODEL = "broken"
BROKEN_REASON = "scripted upstream failure: disk on fire"
HANG_MODEL = "hang"
CUT_MODEL = "cut"
CUT_CHUNKS = 2
MAX_BODY_BYTES = 16384

USER = [{"role": "user", "content": "What is the capital of France?"}]


class Fail(Exception):
    """A scenario's expectation was not met."""


def check(condition, message):
    if not condition:
        raise Fail(message)


def short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def expect_error(call, cls, status, exact=True):
    """Runs `call`, which must raise `cls` (exactly, unless `exact` is false) with `status`."""
    try:
        result = call()
    except openai.APIError as err:
        got = type(err)
        check(
            got is cls if exact else isinstance(err, cls),
            f"expected {cls.__name__}, got {got.__name__}: {short(str(err))}",
        )
        code = getattr(err, "status_code", None)
        check(code == status, f"expected HTTP {status}, got {code}: {short(str(err))}")
        return err
    raise Fail(f"expected {cls.__name__} ({status}), the call succeeded: {short(result)}")


def error_field(err, name):
    body = err.body if isinstance(err.body, dict) else {}
    return body.get(name)


# --- scenarios -------------------------------------------------------------------------------


def models(client, _key):
    ids = [m.id for m in client.models.list()]
    for want in [CHAT_MODEL, *PANEL, "judge", "synth", COUNCIL]:
        check(want in ids, f"models.list() lacks {want!r}: {ids}")


def chat(client, _key):
    response = client.chat.completions.create(model=CHAT_MODEL, messages=USER)
    content = response.choices[0].message.content
    check(content == CHAT_TEXT, f"content {content!r} != {CHAT_TEXT!r}")
    check(response.choices[0].finish_reason == "stop", f"finish_reason {response.choices[0].finish_reason!r}")
    usage = response.usage
    check(usage is not None, "no usage in the response")
    check(usage.completion_tokens > 0 and usage.total_tokens > 0, f"empty usage: {usage}")


def stream(client, _key):
    chunks = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, content_chunks = "", None, 0
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                text += choice.delta.content
                content_chunks += 1
        if chunk.usage is not None:
            check(not chunk.choices, f"the usage chunk has choices: {short(chunk)}")
            usage = chunk.usage
    check(text == CHAT_TEXT, f"streamed text {text!r} != {CHAT_TEXT!r}")
    check(content_chunks > 1, f"the text came in {content_chunks} chunk(s), expected several")
    check(usage is not None and usage.total_tokens > 0, f"no final usage chunk (usage={usage})")


def council(client, _key):
    response = client.chat.completions.create(model=COUNCIL, messages=USER)
    content = response.choices[0].message.content
    check(content == COUNCIL_ANSWER, f"council answer {content!r} != {COUNCIL_ANSWER!r}")
    check(response.model == COUNCIL, f"response.model {response.model!r}")
    check(response.usage is not None and response.usage.total_tokens > 0, f"usage {response.usage}")
    extra = response.model_extra or {}
    trace = extra.get("fusion")
    check(isinstance(trace, dict), f"no `fusion` trace in model_extra: {sorted(extra)}")
    check(response.to_dict().get("fusion") == trace, "to_dict() lacks the same `fusion` trace")
    check(trace.get("status") == "ok", f"trace status {trace.get('status')!r}")
    check(trace.get("council") == "default", f"trace council {trace.get('council')!r}")
    check(trace.get("final_answer") == COUNCIL_ANSWER, f"trace final_answer {trace.get('final_answer')!r}")
    answered = sorted(r.get("model") for r in trace.get("responses", []))
    check(answered == PANEL, f"trace responses from {answered}, expected {PANEL}")
    for field in ["consensus", "contradictions", "blind_spots"]:
        check(field in (trace.get("analysis") or {}), f"trace analysis lacks {field!r}")


def council_stream(client, _key):
    chunks = client.chat.completions.create(
        model=COUNCIL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, trace, usage = "", None, None
    for chunk in chunks:
        check(chunk.model == COUNCIL, f"chunk.model {chunk.model!r}")
        for choice in chunk.choices:
            if choice.delta.content:
                text += choice.delta.content
        extra = chunk.model_extra or {}
        if "fusion" in extra:
            trace = extra["fusion"]
        if chunk.usage is not None:
            usage = chunk.usage
    check(text == COUNCIL_ANSWER, f"streamed council answer {text!r} != {COUNCIL_ANSWER!r}")
    check(isinstance(trace, dict), "no chunk carried the `fusion` trace")
    check(trace.get("status") == "ok", f"trace status {trace.get('status')!r}")
    check(trace.get("final_answer") == COUNCIL_ANSWER, f"trace final_answer {trace.get('final_answer')!r}")
    check(usage is not None and usage.total_tokens > 0, f"no final usage chunk (usage={usage})")
    # The same request read raw: the progress comments the client skipped were really there.
    raw = raw_post(client, {"model": COUNCIL, "messages": USER, "stream": True})
    progress = [line for line in raw.splitlines() if line.startswith(": fusion ")]
    check(progress, f"no `: fusion` progress comments in the raw stream: {short(raw)}")


def raw_post(client, body):
    """POSTs `body` to chat completions without the client library; returns the body text."""
    request = urllib.request.Request(
        str(client.base_url).rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {client.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def bad_request(client, _key):
    err = expect_error(
        lambda: client.chat.completions.create(model=CHAT_MODEL, messages=[]),
        openai.BadRequestError,
        400,
    )
    check(err.param == "messages", f"param {err.param!r}, expected 'messages'")
    check(err.type == "invalid_request_error", f"type {err.type!r}")


def unauthorized(client, key):
    check(key, "the unauthorized scenario needs the server's API key as the third argument")
    # The right key works...
    client.models.list()
    # ...a wrong one is refused, on the API and on chat.
    wrong = client.with_options(api_key=key + "-wrong")
    expect_error(lambda: wrong.models.list(), openai.AuthenticationError, 401)
    err = expect_error(
        lambda: wrong.chat.completions.create(model=CHAT_MODEL, messages=USER),
        openai.AuthenticationError,
        401,
    )
    check(err.code == "invalid_api_key", f"code {err.code!r}")


def not_found(client, _key):
    err = expect_error(
        lambda: client.chat.completions.create(model="no-such-model", messages=USER),
        openai.NotFoundError,
        404,
    )
    check(err.code == "model_not_found", f"code {err.code!r}")
    err = expect_error(
        lambda: client.chat.completions.create(model="fusion/no-such-council", messages=USER),
        openai.NotFoundError,
        404,
    )
    check(err.code == "model_not_found", f"council: code {err.code!r}")


def too_large(client, _key):
    big = [{"role": "user", "content": "x" * (MAX_BODY_BYTES * 2)}]
    err = expect_error(
        lambda: client.chat.completions.create(model=CHAT_MODEL, messages=big),
        openai.APIStatusError,
        413,
    )
    check(err.code == "request_too_large", f"code {err.code!r}")
    # The server still answers normal requests afterwards.
    response = client.chat.completions.create(model=CHAT_MODEL, messages=USER)
    check(response.choices[0].message.content == CHAT_TEXT, "a normal request after the 413 failed")


def rate_limited(client, _key):
    barrier = threading.Barrier(2)
    outcomes = [None, None]

    def call(i):
        barrier.wait()
        try:
            client.chat.completions.create(model=SLOW_MODEL, messages=USER)
            outcomes[i] = "ok"
        except Exception as err:  # noqa: BLE001 - the outcome is checked below
            outcomes[i] = err

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes if o != "ok"]
    check(len(errors) == 1, f"expected one success and one RateLimitError, got {short(outcomes)}")
    err = errors[0]
    check(
        type(err) is openai.RateLimitError,
        f"expected RateLimitError, got {type(err).__name__}: {short(str(err))}",
    )
    check(err.status_code == 429, f"status {err.status_code}")
    check(err.code == "queue_full", f"code {err.code!r}")


def upstream_error(client, _key):
    err = expect_error(
        lambda: client.chat.completions.create(model=BROKEN_MODEL, messages=USER),
        openai.InternalServerError,
        502,
    )
    message = error_field(err, "message") or ""
    check(BROKEN_REASON in message, f"the error message lacks the upstream's reason: {message!r}")


def timeout(client, _key):
    err = expect_error(
        lambda: client.chat.completions.create(model=HANG_MODEL, messages=USER),
        openai.InternalServerError,
        504,
    )
    check(err.code == "upstream_timeout", f"code {err.code!r}")


def stream_cut(client, _key):
    chunks = client.chat.completions.create(model=CUT_MODEL, messages=USER, stream=True)
    text = ""
    try:
        for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta.content:
                    text += choice.delta.content
    except openai.APIError as err:
        # The server's in-band `data: {"error": ...}` event: a body with a message, not a
        # dropped connection (APIConnectionError has no body).
        check(
            not isinstance(err, openai.APIConnectionError),
            f"the connection dropped instead of an error event: {err!r}",
        )
        check(isinstance(err.body, dict) and err.body.get("message"), f"error without a body: {err!r}")
        # One word per chunk, each but the first with its leading space.
        want = " ".join(CHAT_TEXT.split(" ")[:CUT_CHUNKS])
        check(text == want, f"text before the cut {text!r}, expected {want!r}")
        return
    raise Fail(f"the cut stream ended without an error (text {text!r})")


SCENARIOS = {
    f.__name__: f
    for f in [
        models,
        chat,
        stream,
        council,
        council_stream,
        bad_request,
        unauthorized,
        not_found,
        too_large,
        rate_limited,
        upstream_error,
        timeout,
        stream_cut,
    ]
}


def main(argv):
    if len(argv) not in (3, 4) or argv[2] not in SCENARIOS:
        print(f"usage: {argv[0]} BASE_URL SCENARIO [API_KEY]; scenarios: {', '.join(SCENARIOS)}")
        return 2
    base_url, scenario = argv[1].rstrip("/"), argv[2]
    key = argv[3] if len(argv) == 4 else None
    client = OpenAI(base_url=base_url + "/v1", api_key=key or "unused", max_retries=0, timeout=30)
    try:
        SCENARIOS[scenario](client, key)
    except Fail as failure:
        print(f"{scenario}: FAILED: {failure}")
        return 1
    except Exception as err:  # noqa: BLE001 - any unexpected exception is a failure
        print(f"{scenario}: FAILED with {type(err).__name__}: {short(str(err), 600)}")
        return 1
    print(f"{scenario}: ok (openai {openai.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
