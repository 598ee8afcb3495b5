//! Context windows of local model servers, which their `/v1/models` listings leave out (vLLM's
//! `max_model_len` comes with the listing itself): asked of LM Studio's `GET /api/v0/models`,
//! llama.cpp's `GET /props` and Ollama's `POST /api/show`, whichever answers, each with a short
//! timeout. A server that answers none leaves the window unknown.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::openai::OpenAiBackend;

/// How long one metadata request may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The context windows the server states for `models` (upstream names), by name.
pub(super) async fn context_windows(
    backend: &OpenAiBackend,
    models: &[String],
) -> HashMap<String, u32> {
    let mut found = HashMap::new();
    if models.is_empty() {
        return found;
    }
    if let Ok(listing) = backend.root_json("api/v0/models", None, ASK_TIMEOUT).await {
        found.extend(lm_studio_windows(&listing));
    }
    let missing: Vec<&String> = models.iter().filter(|m| !found.contains_key(*m)).collect();
    // llama.cpp serves one model; its `/props` speaks for it alone.
    if let [only] = missing.as_slice()
        && let Ok(props) = backend.root_json("props", None, ASK_TIMEOUT).await
        && let Some(n_ctx) = llama_cpp_window(&props)
    {
        found.insert((*only).clone(), n_ctx);
    }
    let missing: Vec<&String> = models.iter().filter(|m| !found.contains_key(*m)).collect();
    for model in missing {
        let body = json!({ "model": model });
        match backend
            .root_json("api/show", Some(&body), ASK_TIMEOUT)
            .await
        {
            Ok(show) => {
                if let Some(window) = ollama_window(&show) {
                    found.insert(model.to_owned(), window);
                }
            }
            // Not Ollama (or not answering): do not ask once per model.
            Err(_) => break,
        }
    }
    found
}

fn as_window(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// LM Studio: `data[].loaded_context_length` (what a loaded model runs with), else
/// `max_context_length`.
fn lm_studio_windows(listing: &Value) -> HashMap<String, u32> {
    let Some(entries) = listing.get("data").and_then(Value::as_array) else {
        return HashMap::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let id = e.get("id")?.as_str()?;
            let window = e
                .get("loaded_context_length")
                .and_then(as_window)
                .or_else(|| e.get("max_context_length").and_then(as_window))?;
            Some((id.to_owned(), window))
        })
        .collect()
}

/// llama.cpp: `default_generation_settings.n_ctx` (older builds: a top-level `n_ctx`).
fn llama_cpp_window(props: &Value) -> Option<u32> {
    props
        .pointer("/default_generation_settings/n_ctx")
        .and_then(as_window)
        .or_else(|| props.get("n_ctx").and_then(as_window))
}

/// Ollama: `num_ctx` when the model's parameters set it (the window it runs with), else
/// `model_info["<architecture>.context_length"]`.
fn ollama_window(show: &Value) -> Option<u32> {
    let parameters = show.get("parameters").and_then(Value::as_str).unwrap_or("");
    let num_ctx = parameters.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("num_ctx"))
            .then(|| words.next()?.parse::<u32>().ok())
            .flatten()
    });
    if num_ctx.is_some() {
        return num_ctx;
    }
    let info = show.get("model_info")?.as_object()?;
    let arch = info.get("general.architecture").and_then(Value::as_str);
    arch.and_then(|a| info.get(&format!("{a}.context_length")))
        .or_else(|| {
            info.iter()
                .find(|(k, _)| k.ends_with(".context_length"))
                .map(|(_, v)| v)
        })
        .and_then(as_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_servers_answer_yields_its_window() {
        let lm = json!({"data": [
            {"id": "qwen", "max_context_length": 32768},
            {"id": "loaded", "max_context_length": 131072, "loaded_context_length": 8192},
            {"id": "bare"}
        ]});
        let lm = lm_studio_windows(&lm);
        assert_eq!(lm.get("qwen"), Some(&32_768));
        assert_eq!(lm.get("loaded"), Some(&8192));
        assert!(!lm.contains_key("bare"));

        let props = json!({"default_generation_settings": {"n_ctx": 8192}});
        assert_eq!(llama_cpp_window(&props), Some(8192));
        assert_eq!(llama_cpp_window(&json!({"n_ctx": 4096})), Some(4096));
        assert_eq!(llama_cpp_window(&json!({})), None);

        let show = json!({"model_info": {"general.architecture": "qwen2",
            "qwen2.context_length": 32768, "llama.context_length": 1}});
        assert_eq!(ollama_window(&show), Some(32_768));
        let tuned = json!({"parameters": "stop \"<|im_end|>\"\nnum_ctx 16384",
            "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768}});
        assert_eq!(ollama_window(&tuned), Some(16_384));
        assert_eq!(ollama_window(&json!({"model_info": {}})), None);
    }
}
