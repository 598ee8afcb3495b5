//! Keyboard use of a page: Tab through it from the top as a keyboard user would, and check
//! that every control it shows is reached (a radio group counts once: arrows move within it)
//! and has an accessible name as Chromium computes it (what a screen reader says).

use serde_json::Value;

use super::Browser;

/// WebDriver's key code for Tab.
const TAB: &str = "\u{E004}";

/// The controls a page shows now, each tagged `data-kb=INDEX`: visible, enabled, in the Tab
/// order (`tabindex` not negative), not inside a hidden or inert part.
const MARK_CONTROLS: &str = r#"
const selector = 'a[href], button, input, select, textarea, summary, [tabindex]';
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
  && !e.closest('[hidden], [inert]');
const controls = [...document.querySelectorAll(selector)]
  .filter((e) => !e.disabled && e.tabIndex >= 0 && e.type !== 'hidden' && shown(e));
controls.forEach((e, i) => e.setAttribute('data-kb', String(i)));
return controls.map((e) => ({
  kb: e.getAttribute('data-kb'),
  what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.type ? '[' + e.type + ']' : ''),
  group: e.type === 'radio' && e.name ? 'radio:' + e.name : null,
}));
"#;

/// What has focus now: its `data-kb` tag (absent for something that is no listed control,
/// such as a scrollable region) and a description.
const FOCUSED: &str = r#"
const e = document.activeElement;
if (!e || e === document.body || e === document.documentElement) return null;
if (!e.hasAttribute('data-kb')) e.setAttribute('data-kb', 'extra-' + Math.random().toString(36).slice(2));
return {
  kb: e.getAttribute('data-kb'),
  what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.type ? '[' + e.type + ']' : ''),
};
"#;

/// One stop of the Tab walk.
#[derive(Debug, Clone)]
pub struct FocusStop {
    /// The element's `data-kb` tag.
    pub kb: String,
    /// Tag, id and type, e.g. `button#submit-button[submit]`.
    pub what: String,
    /// Its accessible name.
    pub name: String,
}

/// What a Tab walk found.
#[derive(Debug, Clone, Default)]
pub struct KeyboardAudit {
    /// Where focus went, in order.
    pub stops: Vec<FocusStop>,
    /// Controls shown that Tab never reached.
    pub missed: Vec<String>,
    /// Stops with no accessible name.
    pub unnamed: Vec<String>,
}

impl Browser {
    /// Tabs through the page from its top until focus comes round again or leaves the page.
    pub async fn keyboard_audit(&self) -> KeyboardAudit {
        let controls = self.js(MARK_CONTROLS, vec![]).await;
        let controls = controls.as_array().cloned().unwrap_or_default();
        // Start from the top of the document: the body focused (for a moment focusable), so
        // the first Tab goes to the page's first control.
        self.js(
            "if (document.activeElement) document.activeElement.blur(); \
             window.scrollTo(0, 0); \
             document.body.setAttribute('tabindex', '-1'); document.body.focus(); \
             document.body.removeAttribute('tabindex'); return null",
            vec![],
        )
        .await;

        let mut stops: Vec<FocusStop> = Vec::new();
        for _ in 0..controls.len() * 2 + 20 {
            self.press(TAB).await;
            let focused = self.js(FOCUSED, vec![]).await;
            let Some(kb) = focused["kb"].as_str() else {
                // Focus left the page (past its last control): the walk is done.
                if !stops.is_empty() {
                    break;
                }
                continue;
            };
            if stops.first().is_some_and(|s| s.kb == kb) {
                break;
            }
            let element = self.find(&format!("[data-kb='{kb}']")).await;
            let name = self.accessible_name(&element).await;
            stops.push(FocusStop {
                kb: kb.to_owned(),
                what: focused["what"].as_str().unwrap_or_default().to_owned(),
                name,
            });
        }

        let visited = |c: &Value| {
            stops
                .iter()
                .any(|s| c["kb"].as_str() == Some(s.kb.as_str()))
        };
        let reached = |c: &Value| {
            visited(c)
                || c["group"].as_str().is_some_and(|group| {
                    controls
                        .iter()
                        .any(|other| other["group"].as_str() == Some(group) && visited(other))
                })
        };
        let missed = controls
            .iter()
            .filter(|c| !reached(c))
            .filter_map(|c| c["what"].as_str().map(str::to_owned))
            .collect();
        let unnamed = stops
            .iter()
            .filter(|s| s.name.is_empty())
            .map(|s| s.what.clone())
            .collect();
        KeyboardAudit {
            stops,
            missed,
            unnamed,
        }
    }

    /// [`Browser::keyboard_audit`], failing naming every control Tab never reached and every
    /// stop with no name; the stops.
    pub async fn assert_keyboard_reachable_and_named(&self, context: &str) -> Vec<FocusStop> {
        let audit = self.keyboard_audit().await;
        assert!(!audit.stops.is_empty(), "{context}: Tab reaches nothing");
        assert!(
            audit.missed.is_empty(),
            "{context}: Tab never reaches {:?}; it visits {:?}",
            audit.missed,
            audit
                .stops
                .iter()
                .map(|s| s.what.as_str())
                .collect::<Vec<_>>()
        );
        assert!(
            audit.unnamed.is_empty(),
            "{context}: these controls have no accessible name: {:?}",
            audit.unnamed
        );
        audit.stops
    }
}
