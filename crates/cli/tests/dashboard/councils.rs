//! Council traces: a council run is listed from the store, and its trace shows the panel's
//! answers, the judge's analysis, the final answer and the timing waterfall.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_council_trace_opens_from_the_list_and_shows_the_judges_analysis() {
    let d = Dashboard::start("").await;
    let body = json!({"work": {"kind": "council", "question": "What is the capital of France?"}});
    let task = d.post("/api/tasks", body).await;
    let id = task["id"].as_str().unwrap().to_owned();
    wait_until(
        "the council task completed",
        Duration::from_secs(30),
        || {
            let path = format!("/api/tasks/{id}");
            let d = &d;
            async move { d.api(&path).await["state"] == "completed" }
        },
    )
    .await;

    d.open("/ui/councils").await;
    let b = &d.browser;
    let link = b.find("#councils-body a[href^='/ui/councils/']").await;
    let question = link.text().await.unwrap();
    assert!(question.contains("capital of France"), "{question}");
    b.settle().await;
    b.screenshot("councils-list").await;
    link.click().await.unwrap();

    b.wait_text("#analysis-consensus", "the judge's consensus", |t| {
        t.contains("Paris is the capital of France")
    })
    .await;
    let contradictions = b
        .find("#analysis-contradictions")
        .await
        .text()
        .await
        .unwrap();
    for said in ["population", "2.1 million", "11 million"] {
        assert!(contradictions.contains(said), "{said}: {contradictions}");
    }
    let partial = b.find("#analysis-partial").await.text().await.unwrap();
    assert!(partial.contains("the Seine"), "{partial}");
    let unique = b.find("#analysis-unique").await.text().await.unwrap();
    assert!(unique.contains("metro area"), "{unique}");
    let blind = b.find("#analysis-blind-spots").await.text().await.unwrap();
    assert!(blind.contains("history"), "{blind}");
    let notes = b.find("#analysis-judge-notes").await.text().await.unwrap();
    assert!(notes.contains("all answers are short"), "{notes}");

    // The panel's answers side by side under their labels, and the synthesis.
    let answers = b.find_all("#trace-answers article").await;
    assert_eq!(answers.len(), 3, "one answer per panel member");
    let first = answers[0].text().await.unwrap();
    assert!(first.contains("Response A"), "{first}");
    let final_answer = b.find("#trace-final").await.text().await.unwrap();
    assert!(final_answer.contains("FINAL: Paris."), "{final_answer}");
    // The timing waterfall: one bar per panel member, the judge and the synthesizer.
    let waterfall = b.text_content("#waterfall-table").await;
    for step in ["judge", "synth"] {
        assert!(waterfall.contains(step), "{step}: {waterfall}");
    }
    assert!(
        b.find("#trace-degradation")
            .await
            .attr("hidden")
            .await
            .unwrap()
            .is_some(),
        "a healthy run shows no degradation"
    );
    b.settle().await;
    b.screenshot("council-trace").await;
    d.finish("a council trace").await;
}
