"""Drives a running `fusion serve` with the official OpenAI Python client's Responses API,
embeddings and legacy completions.

Usage: python responses_client.py BASE_URL SCENARIO

Each scenario exits 0 when the client sees what OpenAI's API must give it, or prints the reason
and exits 1. Exit 3 means the `openai` package is not installed.

The model ids and texts below mirror the mock script in `../responses_client.rs`: keep them in
sync. Client model names (`gpt-*`) reach the mock models through fusion.toml's `[aliases]`.
"""

import json
import sys

try:
    import openai
    from openai import OpenAI
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"the `openai` Python package is not importable ({exc}): run scripts/install-peers.sh")
    sys.exit(3)

# Mirrors of the Rust side's script and config.
CHAT_MODEL = "gpt-5-chat"  # alias of `chat`
CHAT_TEXT = "Hello from the mock provider."
AGENT_MODEL = "gpt-5-agent"  # alias of `agent`
COUNCIL = "fusion/default"
COUNCIL_ANSWER = "FINAL: Paris."
EMBEDDER = "embedder"
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


class Fail(Exception):
    """A scenario's expectation was not met."""


def check(condition, message):
    if not condition:
        raise Fail(message)


def create(client):
    response = client.responses.create(
        model=CHAT_MODEL, input="Say hello", instructions="Be brief.", max_output_tokens=64
    )
    check(response.id.startswith("resp_"), f"id {response.id!r}")
    check(response.object == "response", f"object {response.object!r}")
    check(response.status == "completed", f"status {response.status!r}")
    check(response.output_text == CHAT_TEXT, f"output_text {response.output_text!r}")
    check(response.output[0].type == "message", f"output {response.output!r}")
    check(response.usage.total_tokens > 0, f"usage {response.usage!r}")
    again = client.responses.retrieve(response.id)
    check(again.output_text == CHAT_TEXT, f"retrieved {again!r}")


def stream(client):
    deltas, kinds, final = [], [], None
    with client.responses.stream(model=CHAT_MODEL, input="Say hello") as events:
        for event in events:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = events.get_final_response()
    check("".join(deltas) == CHAT_TEXT, f"deltas {deltas!r}")
    check(kinds[0] == "response.created", f"first event {kinds[:3]!r}")
    check(kinds[-1] == "response.completed", f"last event {kinds[-3:]!r}")
    check(final.output_text == CHAT_TEXT, f"final {final!r}")
    # The plain iterator over `create(stream=True)` too.
    events = list(client.responses.create(model=CHAT_MODEL, input="Say hello", stream=True))
    numbers = [e.sequence_number for e in events]
    check(numbers == list(range(len(events))), f"sequence numbers {numbers!r}")


def function_call(client):
    first = client.responses.create(model=AGENT_MODEL, input="Weather in Paris?", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    check(len(calls) == 1, f"output {first.output!r}")
    call = calls[0]
    check(call.name == "get_weather", f"name {call.name!r}")
    check(json.loads(call.arguments) == {"city": "Paris"}, f"arguments {call.arguments!r}")
    second = client.responses.create(
        model=AGENT_MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=TOOLS,
    )
    check(second.output_text == "The tool said: sunny", f"second {second.output_text!r}")


def function_call_stream(client):
    arguments, done = [], None
    with client.responses.stream(model=AGENT_MODEL, input="Weather?", tools=TOOLS) as events:
        for event in events:
            if event.type == "response.function_call_arguments.delta":
                arguments.append(event.delta)
            if event.type == "response.function_call_arguments.done":
                done = event.arguments
        final = events.get_final_response()
    check(json.loads("".join(arguments)) == {"city": "Paris"}, f"deltas {arguments!r}")
    check(done == "".join(arguments), f"done {done!r}")
    call = final.output[0]
    check(call.type == "function_call" and call.name == "get_weather", f"final {final.output!r}")
    # The conversation continues in full, without the store: the items sent back.
    second = client.responses.create(
        model=AGENT_MODEL,
        store=False,
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
        tools=TOOLS,
    )
    check(second.output_text == "The tool said: rain", f"second {second.output_text!r}")


def council(client):
    response = client.responses.create(model=COUNCIL, input="What is the capital of France?")
    check(response.output_text == COUNCIL_ANSWER, f"council {response.output_text!r}")


def errors(client):
    try:
        client.responses.create(model=CHAT_MODEL, input="x", previous_response_id="resp_missing")
        raise Fail("an unknown previous_response_id was accepted")
    except openai.BadRequestError as err:
        check(err.code == "previous_response_not_found", f"code {err.code!r}")
        check(err.param == "previous_response_id", f"param {err.param!r}")
    try:
        client.responses.create(model="mystery-model", input="x")
        raise Fail("an unknown model was accepted")
    except openai.NotFoundError as err:
        check("[aliases]" in str(err), f"message {err}")
    try:
        client.responses.retrieve("resp_missing")
        raise Fail("an unknown response id was found")
    except openai.NotFoundError:
        pass


def embeddings(client):
    result = client.embeddings.create(model=EMBEDDER, input=["one", "two words"])
    check(len(result.data) == 2, f"data {result.data!r}")
    check(len(result.data[0].embedding) == 8, f"vector {result.data[0].embedding!r}")
    check(result.usage.prompt_tokens == 3, f"usage {result.usage!r}")
    try:
        client.embeddings.create(model=COUNCIL, input="x")
        raise Fail("a council was accepted for embeddings")
    except openai.BadRequestError as err:
        check("takes a model id" in str(err), f"message {err}")


def completions(client):
    result = client.completions.create(model=EMBEDDER, prompt="fn main() {", suffix="}")
    check(result.choices[0].text == "echo: fn main() { }", f"text {result.choices[0].text!r}")
    pieces = [
        chunk.choices[0].text
        for chunk in client.completions.create(model=EMBEDDER, prompt="a b c", stream=True)
        if chunk.choices
    ]
    check("".join(pieces) == "echo: a b c", f"streamed {pieces!r}")


SCENARIOS = {
    f.__name__: f
    for f in [
        create,
        stream,
        function_call,
        function_call_stream,
        council,
        errors,
        embeddings,
        completions,
    ]
}


def main(argv):
    if len(argv) != 3 or argv[2] not in SCENARIOS:
        print(f"usage: {argv[0]} BASE_URL SCENARIO; scenarios: {', '.join(SCENARIOS)}")
        return 2
    base_url, scenario = argv[1].rstrip("/"), argv[2]
    client = OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=30)
    try:
        SCENARIOS[scenario](client)
    except Fail as failure:
        print(f"{scenario}: FAILED: {failure}")
        return 1
    except Exception as err:  # noqa: BLE001 - any unexpected exception is a failure
        print(f"{scenario}: FAILED with {type(err).__name__}: {str(err)[:600]}")
        return 1
    print(f"{scenario}: ok (openai {openai.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
