"""Drives a running `fusion serve` with the official Anthropic Python SDK (`/v1/messages`).

Usage: python anthropic_client.py BASE_URL SCENARIO [API_KEY]

BASE_URL is Fusion's root (`http://127.0.0.1:PORT`, no `/v1`), as `ANTHROPIC_BASE_URL` is
written. Each scenario exits 0 when the SDK sees what the Messages API must give it, or prints
the reason and exits 1. Exit 3 means the `anthropic` package is not installed.

The model names and texts below mirror the mock script and `[aliases]` in
`../anthropic_client.rs`: keep them in sync.
"""

import sys

try:
    import anthropic
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `anthropic` Python package is not importable ({exc}): run scripts/install-peers.sh")
    sys.exit(3)

# Mirrors of the Rust side's script and aliases.
PLAIN_MODEL = "claude-opus-4-8"  # -> chat
PLAIN_TEXT = "Hello from the mock provider."
AGENT_MODEL = "claude-agent-1"  # -> agent: calls get_weather, then answers from its result
AGENT_PREFIX = "The tool said: "
COUNCIL_MODEL = "claude-council-1"  # -> fusion/default
COUNCIL_ANSWER = "FINAL: Paris."
ROUTER_MODEL = "claude-router-1"  # -> router/auto
BROKEN_MODEL = "claude-broken-1"  # -> broken (HTTP 500 upstream)
BROKEN_REASON = "scripted upstream failure: disk on fire"
CUT_MODEL = "claude-cut-1"  # -> cut: the connection drops after two chunks

USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Fail(Exception):
    """A scenario's expectation was not met."""


def check(condition, message):
    if not condition:
        raise Fail(message)


def expect_error(call, cls, status, needle=None):
    """Runs `call`, which must raise `cls` with `status` (and `needle` in its message)."""
    try:
        result = call()
    except anthropic.APIStatusError as err:
        check(isinstance(err, cls), f"expected {cls.__name__}, got {type(err).__name__}: {err}")
        check(err.status_code == status, f"expected HTTP {status}, got {err.status_code}: {err}")
        body = err.body if isinstance(err.body, dict) else {}
        check(body.get("type") == "error", f"the error body is not Anthropic-shaped: {err.body!r}")
        if needle is not None:
            check(needle in str(err), f"{needle!r} not in {err}")
        return err
    raise Fail(f"expected {cls.__name__}, the call returned {result!r}")


def create(client, _key):
    message = client.messages.create(
        model=PLAIN_MODEL,
        max_tokens=64,
        system="Be terse.",
        messages=USER,
        metadata={"user_id": "sdk-test"},
    )
    check(message.type == "message" and message.role == "assistant", f"{message!r}")
    check(message.id.startswith("msg_"), f"id {message.id!r}")
    check(message.model == PLAIN_MODEL, f"model {message.model!r}")
    check(len(message.content) == 1 and message.content[0].type == "text", f"{message.content!r}")
    check(message.content[0].text == PLAIN_TEXT, f"text {message.content[0].text!r}")
    check(message.stop_reason == "end_turn", f"stop_reason {message.stop_reason!r}")
    check(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, f"{message.usage!r}")


def stream(client, _key):
    with client.messages.stream(model=PLAIN_MODEL, max_tokens=64, messages=USER) as events:
        text = "".join(events.text_stream)
        final = events.get_final_message()
    check(text == PLAIN_TEXT, f"streamed text {text!r}")
    check(final.content[0].text == PLAIN_TEXT, f"final {final.content!r}")
    check(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
    check(final.usage.output_tokens > 0, f"usage {final.usage!r}")
    # The raw event sequence, as the SDK's low-level iterator sees it.
    kinds = [event.type for event in client.messages.create(
        model=PLAIN_MODEL, max_tokens=64, messages=USER, stream=True)]
    check(kinds[0] == "message_start", f"events {kinds}")
    check(kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"], f"events {kinds}")


def tools(client, _key):
    first = client.messages.create(
        model=AGENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL], tool_choice={"type": "auto"},
    )
    check(first.stop_reason == "tool_use", f"stop_reason {first.stop_reason!r}")
    calls = [b for b in first.content if b.type == "tool_use"]
    check(len(calls) == 1 and calls[0].name == "get_weather", f"{first.content!r}")
    check(calls[0].input == {"city": "Paris"}, f"input {calls[0].input!r}")
    # Streamed, the call's input arrives as input_json_delta and the SDK assembles it.
    with client.messages.stream(
        model=AGENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL],
    ) as events:
        streamed = events.get_final_message()
    streamed_calls = [b for b in streamed.content if b.type == "tool_use"]
    check(streamed.stop_reason == "tool_use", f"streamed stop_reason {streamed.stop_reason!r}")
    check(streamed_calls and streamed_calls[0].input == {"city": "Paris"}, f"{streamed.content!r}")
    second = client.messages.create(
        model=AGENT_MODEL, max_tokens=64, tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [c.model_dump() for c in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id,
                                          "content": "sunny, 24 C"}]},
        ],
    )
    check(second.stop_reason == "end_turn", f"stop_reason {second.stop_reason!r}")
    check(second.content[0].text == AGENT_PREFIX + "sunny, 24 C", f"{second.content!r}")


def councils(client, _key):
    message = client.messages.create(model=COUNCIL_MODEL, max_tokens=64, messages=USER)
    check(message.content[0].text == COUNCIL_ANSWER, f"council {message.content!r}")
    with client.messages.stream(model=COUNCIL_MODEL, max_tokens=64, messages=USER) as events:
        text = "".join(events.text_stream)
    check(text == COUNCIL_ANSWER, f"streamed council {text!r}")
    routed = client.messages.with_raw_response.create(
        model=ROUTER_MODEL, max_tokens=64, messages=USER)
    check(routed.headers.get("x-fusion-route", "").startswith("chat"),
          f"route {routed.headers.get('x-fusion-route')!r}")
    check(routed.parse().content[0].text == PLAIN_TEXT, f"routed {routed.parse().content!r}")


def count(client, _key):
    short = client.messages.count_tokens(model=PLAIN_MODEL, messages=USER)
    longer = client.messages.count_tokens(
        model=PLAIN_MODEL, system="You are a careful assistant. " * 20, messages=USER,
        tools=[WEATHER_TOOL])
    check(short.input_tokens > 0, f"{short!r}")
    check(longer.input_tokens > short.input_tokens + 100, f"{short!r} {longer!r}")


def errors(client, _key):
    expect_error(
        lambda: client.messages.create(model="mistral-large", max_tokens=8, messages=USER),
        anthropic.NotFoundError, 404, "[aliases]")
    expect_error(
        lambda: client.messages.create(
            model=PLAIN_MODEL, max_tokens=8, messages=[{"role": "robot", "content": "x"}]),
        anthropic.BadRequestError, 400, "messages[0].role")
    expect_error(
        lambda: client.messages.create(model=BROKEN_MODEL, max_tokens=8, messages=USER),
        anthropic.InternalServerError, 502, BROKEN_REASON)
    # Streamed, a failure before the first token is the same HTTP error...
    try:
        with client.messages.stream(model=BROKEN_MODEL, max_tokens=8, messages=USER) as events:
            "".join(events.text_stream)
    except anthropic.InternalServerError as err:
        check(err.status_code == 502, f"stream error status {err.status_code}")
    else:
        raise Fail("the broken model's stream raised nothing")
    # ...and one after it is an `error` event, which the SDK raises from the stream.
    seen = []
    try:
        with client.messages.stream(model=CUT_MODEL, max_tokens=8, messages=USER) as events:
            for text in events.text_stream:
                seen.append(text)
    except anthropic.APIStatusError as err:
        check(isinstance(err.body, dict) and err.body.get("type") == "error", f"{err.body!r}")
    else:
        raise Fail(f"the cut stream raised nothing (got {seen!r})")
    check(seen, "the cut stream sent no text before its error")


def auth(_client, key):
    base = sys.argv[1]
    good = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
    message = good.messages.create(model=PLAIN_MODEL, max_tokens=8, messages=USER)
    check(message.content[0].text == PLAIN_TEXT, f"{message.content!r}")
    bad = anthropic.Anthropic(base_url=base, api_key="sk-not-the-key", max_retries=0)
    expect_error(lambda: bad.messages.create(model=PLAIN_MODEL, max_tokens=8, messages=USER),
                 anthropic.AuthenticationError, 401)


SCENARIOS = {
    "create": create,
    "stream": stream,
    "tools": tools,
    "councils": councils,
    "count": count,
    "errors": errors,
    "auth": auth,
}


def main(argv):
    if len(argv) not in (3, 4) or argv[2] not in SCENARIOS:
        print(f"usage: {argv[0]} BASE_URL SCENARIO [API_KEY]; scenarios: {', '.join(SCENARIOS)}")
        return 2
    base, scenario = argv[1], argv[2]
    key = argv[3] if len(argv) == 4 else "sk-unused"
    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=60)
    try:
        SCENARIOS[scenario](client, key)
    except Fail as err:
        print(f"{scenario}: {err}")
        return 1
    print(f"{scenario}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
