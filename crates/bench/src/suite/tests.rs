use super::*;

const ONE_TASK: &str = r#"
name = "mine"
[[tasks]]
id = "add"
category = "code"
prompt = "Write add(a, b)."
[tasks.validator]
kind = "code"
tests = ["assert add(1, 2) == 3"]
"#;

fn err_of(text: &str) -> SuiteError {
    match parse_toml(text, "mine.toml", "mine") {
        Ok(suite) => panic!("parsed: {suite:?}"),
        Err(e) => e,
    }
}

#[test]
fn the_builtin_suites_load_with_enough_tasks_per_kind() {
    let suites = builtin(None).unwrap();
    let count = |kind: TaskKind| {
        suites
            .iter()
            .flat_map(|s| &s.tasks)
            .filter(|t| t.kind == kind)
            .count()
    };
    assert!(count(TaskKind::Code) >= 6);
    assert!(count(TaskKind::Extraction) >= 5);
    assert!(count(TaskKind::Reasoning) >= 8);
    assert!(count(TaskKind::Summarization) >= 5);
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "builtin:code",
            "builtin:extraction",
            "builtin:reasoning",
            "builtin:summarization"
        ]
    );
    let mut ids: Vec<&str> = suites
        .iter()
        .flat_map(|s| &s.tasks)
        .map(|t| t.id.as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        all,
        "task ids are unique across the built-in suites"
    );
    let code = builtin(Some(TaskKind::Code)).unwrap();
    assert_eq!(code.len(), 1);
    assert!(code[0].tasks.iter().all(|t| t.kind == TaskKind::Code));
}

#[test]
fn extraction_counts_as_summarization_for_the_router() {
    assert_eq!(TaskKind::Extraction.category(), Category::Summarization);
    assert_eq!(TaskKind::Code.category(), Category::Code);
}

#[test]
fn a_suite_survives_the_round_trip_through_json() {
    for suite in builtin(None).unwrap() {
        let json = serde_json::to_value(&suite).unwrap();
        let back: Suite = serde_json::from_value(json).unwrap();
        assert_eq!(back, suite);
    }
}

#[test]
fn suite_sources_name_builtins_or_paths() {
    assert_eq!(
        "builtin".parse::<SuiteSource>().unwrap(),
        SuiteSource::Builtin(None)
    );
    assert_eq!(
        "builtin:reasoning".parse::<SuiteSource>().unwrap(),
        SuiteSource::Builtin(Some(TaskKind::Reasoning))
    );
    let unknown = "builtin:poetry".parse::<SuiteSource>().unwrap_err();
    assert!(
        unknown.to_string().contains("builtin:code"),
        "{unknown} lists the choices"
    );
    assert_eq!(
        "my/suite.jsonl".parse::<SuiteSource>().unwrap(),
        SuiteSource::Path("my/suite.jsonl".into())
    );
}

#[test]
fn a_toml_suite_parses_with_its_name_and_defaults() {
    let suite = parse_toml(ONE_TASK, "mine.toml", "fallback").unwrap();
    assert_eq!(suite.name, "mine");
    let Validator::Code { timeout, .. } = &suite.tasks[0].validator else {
        panic!("a code task");
    };
    assert_eq!(*timeout, DEFAULT_CODE_TIMEOUT);
}

#[test]
fn errors_name_the_file_the_task_and_the_field() {
    let bad_category = ONE_TASK.replace(r#"category = "code""#, r#"category = "poetry""#);
    let e = err_of(&bad_category);
    assert_eq!(
        (e.origin.as_str(), e.task.as_deref(), e.field.as_deref()),
        ("mine.toml", Some("`add`"), Some("category"))
    );
    assert!(e.to_string().contains("code, extraction"), "{e}");

    let no_tests = ONE_TASK.replace(r#"tests = ["assert add(1, 2) == 3"]"#, "tests = []");
    assert_eq!(err_of(&no_tests).field.as_deref(), Some("validator.tests"));

    let slow = ONE_TASK.replace("kind = \"code\"", "kind = \"code\"\ntimeout = \"10min\"");
    assert_eq!(err_of(&slow).field.as_deref(), Some("validator.timeout"));

    let unknown_key = ONE_TASK.replace("prompt =", "promt = \"x\"\nprompt =");
    let e = err_of(&unknown_key);
    assert!(e.to_string().starts_with("mine.toml: "), "{e}");
    assert!(e.to_string().contains("promt"), "{e}");

    let bad_id = ONE_TASK.replace(r#"id = "add""#, r#"id = "add me""#);
    let e = err_of(&bad_id);
    assert_eq!(
        (e.task.as_deref(), e.field.as_deref()),
        (Some("#1"), Some("id"))
    );

    let twice = format!(
        "{ONE_TASK}{}",
        &ONE_TASK[ONE_TASK.find("[[tasks]]").unwrap()..]
    );
    assert!(err_of(&twice).to_string().contains("appears twice"));

    let bad_pattern = r#"
[[tasks]]
id = "s"
category = "summarization"
prompt = "Summarise."
[tasks.validator]
kind = "facts"
facts = ["ok", { any = ["(unclosed"] }]
"#;
    assert_eq!(
        err_of(bad_pattern).field.as_deref(),
        Some("validator.facts[1].any[0]")
    );

    let bad_schema = r#"
[[tasks]]
id = "j"
category = "extraction"
prompt = "Extract."
[tasks.validator]
kind = "json_schema"
schema = '{"type": "objekt"}'
"#;
    assert_eq!(
        err_of(bad_schema).field.as_deref(),
        Some("validator.schema")
    );

    let no_answer = r#"
[[tasks]]
id = "r"
category = "reasoning"
prompt = "2 + 2?"
[tasks.validator]
kind = "exact"
"#;
    assert_eq!(err_of(no_answer).field.as_deref(), Some("validator.answer"));
}

#[test]
fn sizes_are_bounded() {
    let long_prompt = ONE_TASK.replace("Write add(a, b).", &"x".repeat(MAX_PROMPT_BYTES + 1));
    assert_eq!(err_of(&long_prompt).field.as_deref(), Some("prompt"));
    let mut many = String::new();
    for i in 0..=MAX_TASKS_PER_SUITE {
        many.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ncategory = \"reasoning\"\nprompt = \"p\"\nvalidator = {{ kind = \"exact\", answer = \"1\" }}\n"
        ));
    }
    assert!(err_of(&many).to_string().contains("at most 500"));
}

#[test]
fn a_jsonl_suite_has_one_task_per_line_and_errors_name_the_line() {
    let text = concat!(
        r#"{"id": "a", "category": "reasoning", "prompt": "1+1?", "validator": {"kind": "exact", "answer": 2}}"#,
        "\n\n",
        r#"{"id": "b", "category": "extraction", "prompt": "x", "validator": {"kind": "json_schema", "schema": {"type": "object"}}}"#,
        "\n"
    );
    let suite = parse_jsonl(text, "s.jsonl", "s").unwrap();
    assert_eq!(suite.name, "s");
    assert_eq!(suite.tasks.len(), 2);
    assert_eq!(
        suite.tasks[0].validator,
        Validator::Exact {
            answers: vec!["2".into()],
            tolerance: None
        }
    );
    let broken = r#"{"id": "a", "category": "reasoning", "prompt": "1+1?", "validator": {"kind": "exact", "answer": 2, "tolerence": 1}}"#;
    let e = parse_jsonl(&format!("\n{broken}\n"), "s.jsonl", "s").unwrap_err();
    assert_eq!(e.origin, "s.jsonl: line 2");
    assert!(e.to_string().contains("tolerence"), "{e}");
    let not_json = parse_jsonl("{\"id\": ", "s.jsonl", "s").unwrap_err();
    assert_eq!(not_json.origin, "s.jsonl: line 1");
}

#[test]
fn a_suite_file_needs_a_known_extension_and_a_bounded_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suite.yaml");
    std::fs::write(&path, ONE_TASK).unwrap();
    let e = load_file(&path).unwrap_err();
    assert!(e.to_string().contains(".toml"), "{e}");
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, ONE_TASK).unwrap();
    assert_eq!(load_file(&path).unwrap().tasks.len(), 1);
    let missing = load_file(&dir.path().join("nope.toml")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.toml: cannot read"),
        "{missing}"
    );
}

#[tokio::test]
async fn every_builtin_reference_answer_passes_its_own_validator_and_a_shrug_does_not() {
    for suite in builtin(None).unwrap() {
        for task in &suite.tasks {
            let reference = task
                .reference
                .as_deref()
                .unwrap_or_else(|| panic!("{} has no reference answer", task.id));
            let verdict = crate::validate::validate(&task.validator, reference)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", task.id));
            assert!(
                verdict.passed && verdict.score == 1.0,
                "{}: {}",
                task.id,
                verdict.detail
            );
            let shrug = crate::validate::validate(&task.validator, "I am not sure.")
                .await
                .unwrap();
            assert!(!shrug.passed, "{}: {}", task.id, shrug.detail);
        }
    }
}
