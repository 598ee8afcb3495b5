//! A failing model: the call falls back to the next ranked one, and repeated failures open
//! the model's circuit until one trial after the cooldown restores it.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_falls_back_to_the_next_ranked_one_and_says_so() {
    let mut s = script();
    s = s.with_model(
        "small",
        ModelScript::failing(Failure::status(503, "overloaded")),
    );
    let h = Harness::start(s).await;
    let server = serve(&h, &config(&h, "failure_threshold = 10", "")).await;
    let (status, route, body) = chat(&server, ask("router/auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "big says hi");
    assert_eq!(route.as_deref(), Some("big; priority=balanced"));
    assert_eq!(body["fusion"]["failed"][0]["model"], "small", "{body}");
    assert_eq!(h.mock.requests_for("small").len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_open_the_circuit_then_one_trial_after_the_cooldown_restores_it() {
    let mut s = script();
    let mut flaky = ModelScript::fixed("small is back");
    flaky.failure = Some(Failure::status(500, "down"));
    flaky.fail_first = Some(2);
    s = s.with_model("small", flaky);
    let h = Harness::start(s).await;
    let server = serve(
        &h,
        &config(&h, "failure_threshold = 2\ncooldown = \"1s\"", ""),
    )
    .await;
    for _ in 0..2 {
        let (status, _, body) = chat(&server, ask("router/auto", "hi")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["fusion"]["failed"][0]["model"], "small", "{body}");
    }
    // Open: the decision skips the model and says when it retries; the mock is not called.
    let (_, _, body) = chat(&server, ask("router/auto", "hi")).await;
    let small = verdict(&body["fusion"]["route"], "small");
    assert_eq!(small["health"]["state"], "circuit_open", "{body}");
    assert_eq!(small["verdict"], "rejected");
    assert_eq!(h.mock.requests_for("small").len(), 2);
    // After the 1 s cooldown, half-open: one trial call, which succeeds and closes the circuit
    // (until then each call is answered by `big`).
    wait_until(
        "the trial call after the cooldown",
        Duration::from_secs(10),
        || async {
            let (status, _, body) = chat(&server, ask("router/auto", "hi")).await;
            assert_eq!(status, 200, "{body}");
            body["choices"][0]["message"]["content"] == "small is back"
        },
    )
    .await;
    assert_eq!(h.mock.requests_for("small").len(), 3, "one trial call");
    let (_, route, _) = chat(&server, ask("router/auto", "hi")).await;
    assert_eq!(route.as_deref(), Some("small; priority=balanced"));
    server.stop().await;
}
