//! Council traces: a council question asked from the tasks page's form completes live, is
//! listed from the store on the councils page, and its trace shows the panel's answers under
//! their labels, the judge's analysis, the final answer and the timing waterfall. A council
//! that ends while the list is shown joins it without taking the keyboard off its row.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_council_asked_from_the_form_is_listed_and_its_trace_shows_the_judges_analysis() {
    let d = Dashboard::start("").await;
    let b = &d.browser;
    // Asked from the tasks page's form, as a council question.
    d.open("/ui/tasks").await;
    d.wait_live().await;
    b.click("#submit-kind-council").await;
    b.wait_text("#submit-text-label", "the council wording", |t| {
        t.contains("council")
    })
    .await;
    b.type_into("#submit-text", "What is the capital of France?")
        .await;
    b.click("#submit-button").await;
    let answer = b
        .wait_text("#submit-result", "the submitted task", |t| {
            t.starts_with("Task ")
        })
        .await;
    let id = answer.split_whitespace().nth(1).unwrap().to_owned();
    let state = format!("#task-{id} td:nth-child(2)");
    b.wait_text(&state, "the council completed", |t| t.contains("completed"))
        .await;
    let kind = b
        .find(&format!("#task-{id} td:nth-child(3)"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(kind, "council");

    // Listed on the councils page (reached through the navigation).
    b.click("#nav-councils").await;
    b.wait_text("#page-title", "the councils page", |t| t == "Councils")
        .await;
    // The list is drawn anew once the page's stream connects: take the link after that.
    b.settle().await;
    let link = b.find("#councils-body a[href^='/ui/councils/']").await;
    let question = link.text().await.unwrap();
    assert!(question.contains("capital of France"), "{question}");
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

impl Dashboard {
    /// Asks the default council `question` as a task over the API and waits until it ends.
    async fn ask_council(&self, question: &str) {
        let body = json!({"work": {"kind": "council", "question": question}});
        let id = self.post("/api/tasks", body).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_until("the council task completed", PAGE_WAIT, || async {
            self.api(&format!("/api/tasks/{id}")).await["state"] == "completed"
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_council_ending_while_the_list_is_shown_keeps_the_keyboard_on_its_row() {
    let d = Dashboard::start("").await;
    let b = &d.browser;
    d.open("/ui/councils").await;
    d.wait_live().await;
    b.settle().await;
    // The empty list names the command as code, not in backticks.
    let empty = b.find("#councils-empty").await.text().await.unwrap();
    assert!(!empty.contains('`'), "{empty}");
    let command = b.find("#councils-empty code").await.text().await.unwrap();
    assert_eq!(command, "fusion ask");

    d.ask_council("What is the capital of France?").await;
    let link = b.find("#councils-body a[href^='/ui/councils/']").await;
    b.js(
        "const link = arguments[0]; link.focus(); window.__fusionFocused = link; return null",
        vec![serde_json::to_value(&link).unwrap()],
    )
    .await;

    d.ask_council("And the capital of Italy?").await;
    wait_until("the second council is listed", PAGE_WAIT, || async {
        b.find_all("#councils-body a").await.len() == 2
    })
    .await;
    let kept = b
        .js(
            "return document.activeElement === window.__fusionFocused \
             && window.__fusionFocused.isConnected",
            vec![],
        )
        .await;
    assert_eq!(kept, json!(true), "the focused row was kept, not rebuilt");
    d.finish("a council joining the list").await;
}
