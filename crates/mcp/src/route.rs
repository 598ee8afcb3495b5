//! The router's MCP tools, named as in the routing server Fusion replaces:
//! `preemptive_route_task` (the routing decision for a task, no model call) and
//! `get_cost_estimate` (what a call would cost on a named model or on the routed choice; local
//! and free models cost 0; a task the router escalates to a council costs the sum of the
//! council's expected calls). Arguments accept that server's camelCase names too.

use fusion_core::config::{Category, Priority};
use fusion_core::providers::call_cost;
use fusion_core::router::RouteInput;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::{Fusion, FusionMcp, failure};

pub const PREEMPTIVE: &str = "preemptive_route_task";
pub const COST: &str = "get_cost_estimate";

/// What to optimise for.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriorityArg {
    Cost,
    Balanced,
    Quality,
    Speed,
}

/// The kind of task.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CategoryArg {
    Code,
    Reasoning,
    Writing,
    Summarization,
    Chat,
}

/// A task to place.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTaskInput {
    /// The task, as the model would receive it.
    pub task: String,
    /// Tokens of context the task carries (default: counted from `task`).
    #[serde(default, alias = "contextLength")]
    pub context_length: Option<u64>,
    /// Tokens the answer is expected to need (default: estimated).
    #[serde(default, alias = "expectedOutputLength")]
    pub expected_output_length: Option<u64>,
    /// How hard the task is, 0 to 1 (default: estimated from the text).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// The kind of task (default: estimated from the text).
    #[serde(default)]
    pub category: Option<CategoryArg>,
    /// What to optimise for (default: the configured router priority).
    #[serde(default)]
    pub priority: Option<PriorityArg>,
}

/// What to price: a named model, or the router's choice for a task.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostInput {
    /// Tokens sent to the model.
    #[serde(alias = "contextLength")]
    pub context_length: u64,
    /// Tokens expected back (default for a named model: `context_length`, at most 1024; when
    /// routing: the router's estimate for the task). Also accepted as `output_length`,
    /// `outputLength` and `expectedOutputLength`.
    #[serde(
        default,
        rename = "expected_output_length",
        alias = "output_length",
        alias = "outputLength",
        alias = "expectedOutputLength"
    )]
    pub output_length: Option<u64>,
    /// A model id (see `/v1/models`); when absent, the routed choice is priced.
    #[serde(default)]
    pub model: Option<String>,
    /// The task, for routing (category and complexity estimates) when no model is named.
    #[serde(default)]
    pub task: Option<String>,
    /// How hard the task is, 0 to 1, when routing.
    #[serde(default)]
    pub complexity: Option<f64>,
    /// What to optimise for, when routing.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
}

#[tool_router(router = route_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Route a task (decision only)",
        description = "Decide which model a task should go to, without calling any: the \
         cheapest model good enough for it (local, then free, then paid) by context fit, \
         health, quality for the task's category and estimated cost. Returns the chosen model, \
         the fallbacks and every candidate with its rank or the reason it was rejected.",
        input_schema = crate::own_tools::input_schema::<RouteTaskInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn preemptive_route_task(
        &self,
        Parameters(input): Parameters<RouteTaskInput>,
    ) -> CallToolResult {
        let fusion = self.fusion().clone();
        // Counting a big task's tokens is CPU work: off the async workers when it is big.
        fusion_core::cpu::sized(input.task.len(), move || preemptive(&fusion, input)).await
    }

    #[tool(
        title = "Estimate a call's cost",
        description = "Estimate what a call costs in US dollars: on a named model, or on the \
         model the router would choose. Local and free models cost 0.",
        input_schema = crate::own_tools::input_schema::<CostInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_cost_estimate(&self, Parameters(input): Parameters<CostInput>) -> CallToolResult {
        let fusion = self.fusion().clone();
        let bytes = input.task.as_ref().map_or(0, String::len);
        fusion_core::cpu::sized(bytes, move || cost(&fusion, input)).await
    }
}

fn check_complexity(tool: &str, complexity: Option<f64>) -> Result<(), CallToolResult> {
    match complexity {
        Some(c) if !(0.0..=1.0).contains(&c) => Err(failure::invalid_arguments(
            tool,
            "`complexity` must be between 0 and 1",
        )),
        _ => Ok(()),
    }
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn structured(text: String, value: serde_json::Value) -> CallToolResult {
    let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
    out.structured_content = Some(value);
    out
}

fn preemptive(fusion: &Fusion, input: RouteTaskInput) -> CallToolResult {
    if input.task.trim().is_empty() {
        return failure::invalid_arguments(PREEMPTIVE, "`task` is empty");
    }
    if let Err(refused) = check_complexity(PREEMPTIVE, input.complexity) {
        return refused;
    }
    let route = RouteInput {
        text: input.task,
        context_tokens: input.context_length,
        expected_output_tokens: input.expected_output_length,
        complexity: input.complexity,
        category: input.category.map(category),
        priority: input.priority.map(priority),
    };
    let decision = fusion.registry().route(&route);
    let value = match serde_json::to_value(&decision) {
        Ok(value) => value,
        Err(e) => {
            return failure::failed(
                "internal",
                false,
                format!("cannot encode the decision: {e}"),
            );
        }
    };
    if decision.chosen.is_none() {
        let mut out = tool_error(format!("no model can take this task: {}", decision.summary));
        out.structured_content = Some(value);
        return out;
    }
    structured(decision.summary.clone(), value)
}

fn cost(fusion: &Fusion, input: CostInput) -> CallToolResult {
    if let Err(refused) = check_complexity(COST, input.complexity) {
        return refused;
    }
    let registry = fusion.registry();
    let (model, output_tokens, routed) = match &input.model {
        Some(id) => match registry.model(id) {
            Some(model) => (
                model,
                input
                    .output_length
                    .unwrap_or(input.context_length.min(1024)),
                false,
            ),
            None => {
                let known: Vec<String> = registry.models().into_iter().map(|m| m.id).collect();
                return failure::failed(
                    "unknown_model",
                    false,
                    format!("unknown model `{id}`; known models: {}", known.join(", ")),
                );
            }
        },
        None => {
            let route = RouteInput {
                text: input.task.clone().unwrap_or_default(),
                context_tokens: Some(input.context_length),
                expected_output_tokens: input.output_length,
                complexity: input.complexity,
                category: None,
                priority: input.priority.map(priority),
            };
            let decision = registry.route(&route);
            if let Some(escalation) = &decision.escalation {
                return council_cost(&decision, escalation);
            }
            let Some(chosen) = decision.chosen.as_deref().and_then(|id| registry.model(id)) else {
                return failure::failed(
                    "no_route",
                    false,
                    format!("no model can take this task: {}", decision.summary),
                );
            };
            (chosen, decision.estimate.output_tokens, true)
        }
    };
    let cost = call_cost(&model, input.context_length, output_tokens);
    let priced = model.tier != fusion_core::config::Tier::Paid || model.price.is_some();
    // Without a model, every tier's cheapest fitting model too, as the router server answered.
    let tiers = routed.then(|| per_tier(&registry.models(), input.context_length, output_tokens));
    let text = if priced {
        format!(
            "{}: ${cost:.6} for {} tokens in and {output_tokens} out ({})",
            model.id,
            input.context_length,
            model.tier.as_str()
        )
    } else {
        format!(
            "{}: no price configured for this paid model; set [[models]] price or run `fusion models sync`",
            model.id
        )
    };
    structured(
        text,
        json!({
            "model": model.id,
            "provider": model.provider,
            "tier": model.tier,
            "routed": routed,
            "input_tokens": input.context_length,
            "output_tokens": output_tokens,
            "cost_usd": priced.then_some(cost),
            "free": model.tier != fusion_core::config::Tier::Paid,
            "tiers": tiers,
        }),
    )
}

/// The routed choice is a council (`[router.escalate]`): the sum of its expected calls.
fn council_cost(
    decision: &fusion_core::router::Decision,
    escalation: &fusion_core::router::Escalation,
) -> CallToolResult {
    let target = decision.chosen.clone().unwrap_or_default();
    let calls = escalation.calls.len();
    let text = match escalation.expected_cost_usd {
        Some(cost) => format!(
            "{target}: ${cost:.6} expected over the council's {calls} calls ({})",
            decision.summary
        ),
        None => format!(
            "{target}: cost unknown — a seat of the council has no price ({})",
            decision.summary
        ),
    };
    structured(
        text,
        json!({
            "model": target,
            "council": escalation.council,
            "routed": true,
            "input_tokens": decision.estimate.input_tokens,
            "output_tokens": decision.estimate.output_tokens,
            "cost_usd": escalation.expected_cost_usd,
            "free": escalation.expected_cost_usd == Some(0.0),
            "calls": escalation.calls,
        }),
    )
}

/// Per tier (`local`, `free`, `paid`): the cheapest model whose context window fits the call,
/// with its cost (paid models without a price are left out: their cost is unknown).
fn per_tier(
    models: &[fusion_core::providers::ModelEntry],
    input_tokens: u64,
    output_tokens: u64,
) -> serde_json::Value {
    use fusion_core::config::Tier;
    let fits = |m: &&fusion_core::providers::ModelEntry| {
        m.context_window
            .is_none_or(|window| u64::from(window) >= input_tokens + output_tokens)
    };
    let mut tiers = serde_json::Map::new();
    for tier in [Tier::Local, Tier::Free, Tier::Paid] {
        let cheapest = models
            .iter()
            .filter(|m| m.tier == tier && (tier != Tier::Paid || m.price.is_some()))
            .filter(fits)
            .map(|m| (call_cost(m, input_tokens, output_tokens), m))
            .min_by(|(a, _), (b, _)| a.total_cmp(b));
        if let Some((cost, model)) = cheapest {
            tiers.insert(
                tier.as_str().to_owned(),
                json!({ "model": model.id, "cost_usd": cost }),
            );
        }
    }
    serde_json::Value::Object(tiers)
}

pub(crate) fn priority(p: PriorityArg) -> Priority {
    match p {
        PriorityArg::Cost => Priority::Cost,
        PriorityArg::Balanced => Priority::Balanced,
        PriorityArg::Quality => Priority::Quality,
        PriorityArg::Speed => Priority::Speed,
    }
}

pub(crate) fn category(c: CategoryArg) -> Category {
    match c {
        CategoryArg::Code => Category::Code,
        CategoryArg::Reasoning => Category::Reasoning,
        CategoryArg::Writing => Category::Writing,
        CategoryArg::Summarization => Category::Summarization,
        CategoryArg::Chat => Category::Chat,
    }
}

#[cfg(test)]
mod tests {
    use rmcp::handler::server::common::schema_for_input;
    use rmcp::model::JsonObject;
    use serde::de::DeserializeOwned;

    use super::*;

    /// The SDK's parse of a call's arguments.
    fn parse<T: DeserializeOwned>(_tool: &str, arguments: Option<JsonObject>) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(arguments.unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn both_tools_derive_object_schemas_and_accept_the_replaced_servers_names() {
        assert!(schema_for_input::<RouteTaskInput>().is_ok());
        assert!(schema_for_input::<CostInput>().is_ok());
        let args = json!({"task": "x", "contextLength": 10, "expectedOutputLength": 5});
        let input: RouteTaskInput = serde_json::from_value(args).unwrap();
        assert_eq!(input.context_length, Some(10));
        assert_eq!(input.expected_output_length, Some(5));
    }

    #[test]
    fn unknown_fields_and_bad_priorities_are_refused_naming_them() {
        let err = parse::<RouteTaskInput>(
            PREEMPTIVE,
            json!({"task": "x", "budget": 1}).as_object().cloned(),
        )
        .unwrap_err();
        assert!(err.contains("budget"), "{err}");
        let err = parse::<RouteTaskInput>(
            PREEMPTIVE,
            json!({"task": "x", "priority": "cheapest"})
                .as_object()
                .cloned(),
        )
        .unwrap_err();
        assert!(err.contains("cheapest"), "{err}");
        assert!(check_complexity(PREEMPTIVE, Some(1.5)).is_err());
    }

    #[test]
    fn a_task_escalated_to_a_council_costs_the_sum_of_its_expected_calls() {
        use fusion_core::config::{EscalateConfig, Price, QualityPriors, RouterConfig, Tier};
        use fusion_core::router::{CouncilView, Health, ModelView, SeatView};
        let model = |id: &str| ModelView {
            id: id.into(),
            provider: "p".into(),
            tier: Tier::Paid,
            context_window: None,
            price: Some(Price {
                input_per_mtok: 1.0,
                output_per_mtok: 2.0,
            }),
            price_unknown: false,
            quality: QualityPriors {
                default: Some(0.5),
                ..QualityPriors::default()
            },
            measured: Default::default(),
            health: Health::Healthy,
            latency_p50_ms: None,
        };
        let seat = |id: &str| SeatView {
            model: id.into(),
            max_tokens: None,
        };
        let council = CouncilView {
            name: "deep".into(),
            panel: vec![seat("a"), seat("b")],
            judge: seat("a"),
            synthesizer: seat("b"),
            measured: Default::default(),
            reviewed: None,
        };
        let config = RouterConfig {
            escalate: Some(EscalateConfig {
                council: "deep".into(),
                when_unmet: true,
                above_complexity: None,
                prior: Some(0.9),
                max_cost_usd: Some(1.0),
            }),
            ..RouterConfig::default()
        };
        let input = RouteInput {
            text: "hard".into(),
            context_tokens: Some(1000),
            expected_output_tokens: Some(500),
            complexity: Some(1.0),
            category: Some(Category::Reasoning),
            priority: None,
        };
        let decision = fusion_core::router::decide_with_council(
            &input,
            &[model("a"), model("b")],
            Some(&council),
            &config,
        );
        let escalation = decision.escalation.clone().unwrap();
        let answer = council_cost(&decision, &escalation);
        let value = answer.structured_content.unwrap();
        assert_eq!(value["model"], "fusion/deep", "{value}");
        assert_eq!(value["calls"].as_array().unwrap().len(), 4, "{value}");
        let sum: f64 = value["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cost_usd"].as_f64().unwrap())
            .sum();
        assert!((value["cost_usd"].as_f64().unwrap() - sum).abs() < 1e-12);
        assert!(sum > 0.0);
    }
}
