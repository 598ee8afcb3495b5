//! `fusion models`: discovered models listed, and `models sync` importing a provider's
//! catalog with prices, context windows and free models marked.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_discovered_models_and_sync_imports_a_catalog_marking_free_ones() {
    let mut free = ModelScript::fixed("free answer");
    free.context_length = Some(131_072);
    free.pricing = Some(Pricing {
        prompt: "0".into(),
        completion: "0".into(),
    });
    let mut priced = ModelScript::fixed("priced answer");
    priced.context_length = Some(200_000);
    priced.pricing = Some(Pricing {
        prompt: "0.000003".into(),
        completion: "0.000015".into(),
    });
    let s = script()
        .with_model("vendor/free-model:free", free)
        .with_model("vendor/priced-model", priced);
    let h = Harness::start(s).await;
    let url = h.mock.base_url();
    let text = format!(
        "{}\n[[providers]]\nname = \"catalog\"\nkind = \"openai\"\nbase_url = \"{url}\"\ntier = \"paid\"\n",
        config(&h, "discover = true", "")
    );
    let path = h.write_config("fusion.toml", &text);
    let path = path.to_str().unwrap();

    let run = h.fusion(&["models", "--config", path, "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = run.json();
    let ids: Vec<&str> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // The local provider lists what the mock serves; configured models are not repeated,
    // and the paid provider is not crawled.
    assert!(ids.contains(&"local/vendor/priced-model"), "{ids:?}");
    assert!(!ids.contains(&"local/small"), "{ids:?}");
    assert!(!ids.iter().any(|id| id.starts_with("catalog/")), "{ids:?}");

    let run = h
        .fusion(&["models", "--config", path, "sync", "catalog", "--free-only"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("synced 1 models"), "{}", run.stdout);
    // The mock's other models have no prices: a catalog entry without one is not imported.
    let run = h
        .fusion(&["models", "--config", path, "sync", "catalog"])
        .await;
    assert!(
        run.stdout
            .contains("synced 2 models of `catalog` (1 free, 1 priced)"),
        "{}",
        run.stdout
    );

    let listed = h
        .fusion(&["models", "--config", path, "--json"])
        .await
        .json();
    let model = |id: &str| {
        listed["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {listed}"))
    };
    let free = model("catalog/vendor/free-model:free");
    assert_eq!(free["tier"], "free");
    assert_eq!(free["source"], "catalog");
    assert_eq!(free["context_window"], 131_072);
    let priced = model("catalog/vendor/priced-model");
    assert_eq!(priced["tier"], "paid");
    assert_eq!(priced["price"]["input_per_mtok"], 3.0);
    assert_eq!(priced["price"]["output_per_mtok"], 15.0);

    let run = h
        .fusion(&["models", "--config", path, "sync", "nope"])
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no provider named `nope`"),
        "{}",
        run.stderr
    );
}
