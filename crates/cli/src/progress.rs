//! Live council progress on stderr: spinners with elapsed seconds per panel member, then the
//! judge and the synthesizer, on a terminal; plain timestamped lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use fusion_core::council::CouncilEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

/// Renders events until the council drops its sender.
pub async fn render(rx: UnboundedReceiver<CouncilEvent>) {
    if std::io::stderr().is_terminal() {
        Bars::default().run(rx).await;
    } else {
        plain(rx).await;
    }
}

async fn plain(mut rx: UnboundedReceiver<CouncilEvent>) {
    let started = Instant::now();
    while let Some(event) = rx.recv().await {
        let line = match event {
            CouncilEvent::PanelStarted { members } => {
                format!("panel: {} waiting", members.join(", "))
            }
            CouncilEvent::MemberStarted { member } => format!("{member}: running"),
            CouncilEvent::MemberFinished { member, latency_ms } => {
                format!("{member}: done in {:.1}s", latency_ms as f64 / 1000.0)
            }
            CouncilEvent::MemberFailed { member, error } => format!("{member}: failed: {error}"),
            CouncilEvent::MemberCut { member, reason } => format!("{member}: cut ({reason})"),
            CouncilEvent::JudgeStarted { model } => format!("judge ({model}): running"),
            CouncilEvent::JudgeRetry { reason } => {
                format!("judge: output not usable ({reason}); retrying once")
            }
            CouncilEvent::JudgeFinished { ok } => {
                format!("judge: {}", if ok { "done" } else { "no usable analysis" })
            }
            CouncilEvent::SynthesizerStarted { model } => format!("synthesizer ({model}): running"),
            // `fusion ask` prints the whole answer at the end.
            CouncilEvent::SynthesizerDelta { .. } => continue,
            CouncilEvent::SynthesizerFinished { ok } => {
                format!("synthesizer: {}", if ok { "done" } else { "failed" })
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let _ = writeln!(std::io::stderr().lock(), "[fusion {secs:>6.1}s] {line}");
    }
}

#[derive(Default)]
struct Bars {
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
}

impl Bars {
    async fn run(mut self, mut rx: UnboundedReceiver<CouncilEvent>) {
        self.multi = Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        while let Some(event) = rx.recv().await {
            self.apply(event);
        }
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }

    fn bar(&mut self, key: &str, label: &str) -> ProgressBar {
        if let Some(bar) = self.bars.get(key) {
            return bar.clone();
        }
        let style = ProgressStyle::with_template("{spinner:.cyan} {prefix:<28} {msg} {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::new_spinner()
            .with_style(style)
            .with_prefix(label.to_owned())
            .with_message("waiting");
        let bar = match &self.multi {
            Some(multi) => multi.add(bar),
            None => bar,
        };
        self.bars.insert(key.to_owned(), bar.clone());
        bar
    }

    fn finish(bar: &ProgressBar, message: String) {
        let style = ProgressStyle::with_template("  {prefix:<28} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.finish_with_message(message);
    }

    fn apply(&mut self, event: CouncilEvent) {
        match event {
            CouncilEvent::PanelStarted { members } => {
                for member in members {
                    self.bar(&member, &member);
                }
            }
            CouncilEvent::MemberStarted { member } => {
                let bar = self.bar(&member, &member);
                bar.reset_elapsed();
                bar.set_message("running");
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            CouncilEvent::MemberFinished { member, latency_ms } => {
                let bar = self.bar(&member, &member);
                Self::finish(
                    &bar,
                    format!("✔ done in {:.1}s", latency_ms as f64 / 1000.0),
                );
            }
            CouncilEvent::MemberFailed { member, error } => {
                let bar = self.bar(&member, &member);
                Self::finish(&bar, format!("✖ failed: {}", first_line(&error)));
            }
            CouncilEvent::MemberCut { member, reason } => {
                let bar = self.bar(&member, &member);
                Self::finish(&bar, format!("✂ cut ({reason})"));
            }
            CouncilEvent::JudgeStarted { model } => {
                let bar = self.bar("\0judge", &format!("judge ({model})"));
                bar.set_message("running");
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            CouncilEvent::JudgeRetry { .. } => {
                self.bar("\0judge", "judge")
                    .set_message("not valid JSON, retrying once");
            }
            CouncilEvent::JudgeFinished { ok } => {
                let bar = self.bar("\0judge", "judge");
                let secs = bar.elapsed().as_secs_f64();
                let msg = if ok {
                    format!("✔ done in {secs:.1}s")
                } else {
                    format!("✖ no usable analysis after {secs:.1}s (heuristic used)")
                };
                Self::finish(&bar, msg);
            }
            CouncilEvent::SynthesizerStarted { model } => {
                let bar = self.bar("\0synth", &format!("synthesizer ({model})"));
                bar.set_message("running");
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            CouncilEvent::SynthesizerDelta { .. } => {}
            CouncilEvent::SynthesizerFinished { ok } => {
                let bar = self.bar("\0synth", "synthesizer");
                let secs = bar.elapsed().as_secs_f64();
                let msg = if ok {
                    format!("✔ done in {secs:.1}s")
                } else {
                    format!("✖ failed after {secs:.1}s (best panel answer used)")
                };
                Self::finish(&bar, msg);
            }
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
