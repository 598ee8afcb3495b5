//! A [`RoutingEval`] as people read it: a plain-text table for the terminal and a Markdown
//! report — the baselines, the router's Pareto front, APGR and the cost of 95%.

use std::fmt::Write as _;

use super::baselines::PolicyResult;
use super::proposal::{QualitySource, Rule, SimulatedPolicy};
use super::replay::{RouterResult, RoutingEval, SweepPoint};

/// The report as a terminal table.
pub fn table(eval: &RoutingEval) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(out, "{}\n", headline(eval));
    let _ = writeln!(
        out,
        "{:<34} {:>8} {:>11} {:>11} {:>6} {:>6} {:>8}",
        "policy", "quality", "cost USD", "% strongest", "PGR", "APGR", "95% at"
    );
    for b in &eval.baselines {
        let _ = writeln!(
            out,
            "{:<34} {:>8.3} {:>11.4} {:>11} {:>6} {:>6} {:>8}",
            policy_name(eval, b),
            b.quality,
            b.cost_usd,
            pct(b.cost_pct_of_strongest),
            num(b.pgr),
            num(b.apgr),
            pct(b.cost_at_95_pct)
        );
    }
    for r in std::iter::once(&eval.router).chain(&eval.by_priority) {
        let _ = writeln!(
            out,
            "{:<34} {:>8.3} {:>11} {:>11} {:>6} {:>6} {:>8}",
            router_name(eval, r),
            r.best_quality,
            "(best)",
            "",
            "",
            num(r.apgr),
            pct(r.cost_at_95.as_ref().and_then(|c| c.pct_of_strongest))
        );
    }
    let _ = writeln!(
        out,
        "\nrouter Pareto front ({} of {} sweep points):",
        eval.router.pareto.len(),
        eval.sweep.len()
    );
    let _ = writeln!(
        out,
        "  {:<9} {:>6} {:>9} {:>8} {:>11} {:>11} {:>6} {:>8}  choices ({})",
        "priority",
        "q_thr",
        "cost_thr",
        "quality",
        "cost USD",
        "% strongest",
        "PGR",
        "unrouted",
        model_ids(eval)
    );
    for &i in &eval.router.pareto {
        let p = &eval.sweep[i];
        let _ = writeln!(
            out,
            "  {:<9} {:>6.1} {:>9} {:>8.3} {:>11.4} {:>11} {:>6} {:>8}  {}",
            p.priority.as_str(),
            p.quality_threshold,
            usd(p.cost_threshold),
            p.quality,
            p.cost_usd,
            pct(p.cost_pct_of_strongest),
            num(p.pgr),
            p.unrouted,
            choices(p)
        );
    }
    let _ = writeln!(out, "\n{}", cost_at_95(eval));
    let _ = writeln!(out, "{}", aims(eval));
    if !eval.simulated.is_empty() {
        simulated_table(&mut out, eval);
    }
    for note in &eval.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn simulated_table(out: &mut String, eval: &RoutingEval) {
    let _ = writeln!(
        out,
        "\nsimulated policy changes (the same replay; `*` is the router as it is):"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<9} {:>7} {:>6} {:>7}  cheapest point reaching 95%",
        "quality", "rule", "points", "APGR", "best q"
    );
    for s in &eval.simulated {
        let _ = writeln!(
            out,
            "  {:<10} {:<9} {:>7} {:>6} {:>7.3}  {}",
            source_name(s),
            rule_name(s.rule),
            s.points,
            num(s.apgr),
            s.best_quality,
            sim_at_95(s)
        );
    }
}

fn source_name(s: &SimulatedPolicy) -> String {
    let name = match s.quality {
        QualitySource::Category => "category",
        QualitySource::Band => "band",
        QualitySource::Fit => "fit",
        QualitySource::Chance => "chance",
    };
    if s.is_current {
        format!("{name}*")
    } else {
        name.to_owned()
    }
}

fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::Router => "router",
        Rule::Value => "value",
    }
}

fn sim_at_95(s: &SimulatedPolicy) -> String {
    match &s.cost_at_95 {
        Some(p) => format!(
            "{} of the strongest's cost (priority {}, knob {}, cost_threshold {}; quality {:.3})",
            pct(p.cost_pct_of_strongest),
            p.priority,
            p.knob,
            usd(p.cost_threshold),
            p.quality
        ),
        None => "none".to_owned(),
    }
}

/// The report as Markdown.
pub fn markdown(eval: &RoutingEval) -> String {
    let mut out = String::with_capacity(8192);
    let _ = writeln!(out, "# Routing eval\n\n{}\n", headline(eval));
    let _ = writeln!(out, "## Models\n");
    let _ = writeln!(
        out,
        "| model | tier | price in/out per Mtok | window | trained quality (n) | test quality | test cost |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for m in &eval.models {
        let price = m.price.map_or_else(
            || "—".to_owned(),
            |p| format!("${} / ${}", p.input_per_mtok, p.output_per_mtok),
        );
        let trained: Vec<String> = m
            .trained
            .iter()
            .map(|(c, q)| format!("{c} {:.2} ({})", q.quality, q.n))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {price} | {} | {} | {:.3} | ${:.4} |",
            m.id,
            m.tier.as_str(),
            m.context_window
                .map_or_else(|| "—".to_owned(), |w| w.to_string()),
            trained.join(", "),
            m.test_quality,
            m.test_cost_usd
        );
    }
    let _ = writeln!(out, "\n## Policies\n");
    let _ = writeln!(
        out,
        "| policy | quality | cost USD | % of strongest cost | PGR | APGR | 95% of strongest at |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for b in &eval.baselines {
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.4} | {} | {} | {} | {} |",
            policy_name(eval, b),
            b.quality,
            b.cost_usd,
            pct(b.cost_pct_of_strongest),
            num(b.pgr),
            num(b.apgr),
            pct(b.cost_at_95_pct)
        );
    }
    for r in std::iter::once(&eval.router).chain(&eval.by_priority) {
        let _ = writeln!(
            out,
            "| **{}** | {:.3} (best) | | | | **{}** | {} |",
            router_name(eval, r),
            r.best_quality,
            num(r.apgr),
            pct(r.cost_at_95.as_ref().and_then(|c| c.pct_of_strongest))
        );
    }
    let _ = writeln!(
        out,
        "\n## The router's Pareto front\n\n{} of {} sweep points; choices per model: {}.\n",
        eval.router.pareto.len(),
        eval.sweep.len(),
        model_ids(eval)
    );
    let _ = writeln!(
        out,
        "| priority | quality_threshold | cost_threshold | quality | cost USD | % of strongest cost | PGR | unrouted | choices |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for &i in &eval.router.pareto {
        let p = &eval.sweep[i];
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {:.3} | {:.4} | {} | {} | {} | {} |",
            p.priority.as_str(),
            p.quality_threshold,
            usd(p.cost_threshold),
            p.quality,
            p.cost_usd,
            pct(p.cost_pct_of_strongest),
            num(p.pgr),
            p.unrouted,
            choices(p)
        );
    }
    let _ = writeln!(out, "\n{}\n\n{}", cost_at_95(eval), aims(eval));
    if !eval.simulated.is_empty() {
        simulated_markdown(&mut out, eval);
    }
    for note in &eval.notes {
        let _ = writeln!(out, "\n- {note}");
    }
    out
}

fn simulated_markdown(out: &mut String, eval: &RoutingEval) {
    let _ = writeln!(
        out,
        "\n## Simulated policy changes\n\nThe same replay through the same `decide`, given \
         one measured quality per model and category (`category`, the router before per-task \
         quality), per complexity band (`band`), the fit against complexity read at the task's \
         (`fit`, today's) or each model's true chance on the task (`chance`, labelled sets), \
         under today's policy over the sweep (`router`) or a `value` rule (no bar, the most \
         quality − λ × cost among the affordable, λ swept apart from the thresholds). `*` marks \
         the router as it is.\n"
    );
    let _ = writeln!(
        out,
        "| quality | rule | points | APGR | best quality | cheapest point reaching 95% |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in &eval.simulated {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} | {} |",
            source_name(s),
            rule_name(s.rule),
            s.points,
            num(s.apgr),
            s.best_quality,
            sim_at_95(s)
        );
    }
}

fn headline(eval: &RoutingEval) -> String {
    let seed = eval
        .dataset_seed
        .map_or_else(String::new, |s| format!(", seed {s}"));
    format!(
        "routing eval on the {} set{seed}: {} tasks, {} models; the router is given quality \
         measured on {} training tasks and scored on the other {} (split seed {})",
        eval.source.as_str(),
        eval.tasks,
        eval.models.len(),
        eval.train_tasks,
        eval.test_tasks,
        eval.seed
    )
}

fn policy_name(eval: &RoutingEval, b: &PolicyResult) -> String {
    match b.name.as_str() {
        "always-cheapest" => format!("always-cheapest ({})", eval.cheapest),
        "always-strongest" => format!("always-strongest ({})", eval.strongest),
        _ => b.name.clone(),
    }
}

fn router_name(eval: &RoutingEval, r: &RouterResult) -> String {
    match r.priority {
        None => format!("router, all {} points", eval.sweep.len()),
        Some(p) => format!("router, priority {p}"),
    }
}

fn cost_at_95(eval: &RoutingEval) -> String {
    let target = eval
        .baselines
        .iter()
        .find(|b| b.name == "always-strongest")
        .map_or(0.0, |b| 0.95 * b.quality);
    match &eval.router.cost_at_95 {
        Some(c) => {
            let p = &eval.sweep[c.point];
            format!(
                "cost of 95% of always-strongest's quality ({target:.3}): {} of its cost — \
                 priority {}, quality_threshold {:.1}, cost_threshold {} (quality {:.3}, ${:.4})",
                pct(c.pct_of_strongest),
                p.priority,
                p.quality_threshold,
                usd(p.cost_threshold),
                c.quality,
                c.cost_usd
            )
        }
        None => format!(
            "cost of 95% of always-strongest's quality ({target:.3}): no sweep point reaches it \
             (best {:.3})",
            eval.router.best_quality
        ),
    }
}

fn aims(eval: &RoutingEval) -> String {
    let a = &eval.aims;
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let not_beaten = if a.not_beaten.is_empty() {
        String::new()
    } else {
        format!(" (not beaten: {})", a.not_beaten.join(", "))
    };
    format!(
        "aims: APGR above always-cheapest, always-strongest and random: {}{not_beaten}; 95% of \
         the strongest's quality at ≤ 25% of its cost: {}",
        yes(a.apgr_beats_baselines),
        yes(a.cost_at_95_within_25_pct)
    )
}

fn model_ids(eval: &RoutingEval) -> String {
    eval.models
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}

fn choices(p: &SweepPoint) -> String {
    p.choices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%"))
}

fn usd(v: f64) -> String {
    format!("${v}")
}
