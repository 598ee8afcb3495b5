//! `fusion route`: the decision explained per candidate, a run through the chosen model, and
//! the exit codes when nothing fits or the input is bad.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn fusion_route_explains_each_candidate_and_fails_when_nothing_fits() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h, "", ""));
    let path = path.to_str().unwrap();
    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--json",
            "--context-length",
            "8000",
            "fix the bug",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let decision = run.json();
    assert_eq!(decision["chosen"], "big", "{decision}");
    let small = verdict(&decision, "small");
    assert_eq!(small["verdict"], "rejected");
    assert!(
        small["reason"].as_str().unwrap().contains("context"),
        "{small}"
    );
    assert_eq!(decision["estimate"]["input_tokens"], 8000);
    assert_eq!(decision["estimate"]["input_tokens_estimated"], false);

    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--context-length",
            "999999999",
            "x",
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("rejected"), "{}", run.stdout);

    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--run",
            "--priority",
            "cost",
            "say hi",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "small says hi");
    assert!(run.stderr.contains("routed to small"), "{}", run.stderr);

    let run = h
        .fusion(&["route", "--config", path, "--complexity", "2", "x"])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}
