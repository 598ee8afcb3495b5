//! What a test does on a page, as a user would (open, find, type, click, press a key) or by
//! reading it (text, accessible names, options), each waiting up to [`PAGE_WAIT`] for the page
//! to show what is asked.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use serde_json::{Value, json};

use super::{Browser, PAGE_WAIT};

impl Browser {
    /// Opens `url` and waits for its document to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Waits until the page has loaded and stopped starting requests: the document is
    /// complete and its count of finished requests held still for a second and a half (a live
    /// stream that never finishes does not count; the pages reload what they show a moment
    /// after their stream connects).
    pub async fn settle(&self) {
        let mut last = u64::MAX;
        let mut still = 0;
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        while tokio::time::Instant::now() < deadline {
            let count = self
                .js(
                    "return document.readyState === 'complete' \
                     ? performance.getEntriesByType('resource').length : -1",
                    vec![],
                )
                .await
                .as_u64();
            match count {
                Some(n) if n == last => still += 1,
                Some(n) => {
                    last = n;
                    still = 0;
                }
                None => still = 0,
            }
            if still >= 15 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page kept loading for {PAGE_WAIT:?}");
    }

    /// The element `css`, waiting up to [`PAGE_WAIT`] for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {css} within {PAGE_WAIT:?} ({e}); console: {:?}; page text:\n{}",
                self.console_entries().await,
                self.body_text().await
            ),
        }
    }

    /// The element `css`, waiting up to `within` for it to appear (something slower than a
    /// page, such as a child process starting).
    pub async fn find_within(&self, css: &str, within: Duration) -> Element {
        match self
            .client
            .wait()
            .at_most(within)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {css} within {within:?} ({e}); page text:\n{}",
                self.body_text().await
            ),
        }
    }

    /// Types `text` into the field `css` (after clearing it), as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sets the value of the field `css` (several lines for a textarea) and fires its `input`
    /// and `change` events.
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        self.js(
            "const f = document.querySelector(arguments[0]); f.value = arguments[1]; \
             f.dispatchEvent(new Event('input', {bubbles: true})); \
             f.dispatchEvent(new Event('change', {bubbles: true})); return null",
            vec![json!(css), json!(value)],
        )
        .await;
    }

    /// Clicks the element `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Every element matching `css` now (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page: its return value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed ({e}):\n{script}"))
    }

    /// The visible text of the page.
    pub async fn body_text(&self) -> String {
        match self
            .client
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
        {
            Ok(Value::String(text)) => text,
            other => format!("(no page text: {other:?})"),
        }
    }

    /// The `textContent` of `css` (hidden text too, such as a chart's data table for screen
    /// readers), waiting for it to appear.
    pub async fn text_content(&self, css: &str) -> String {
        self.find(css).await;
        let text = self
            .js(
                "return document.querySelector(arguments[0]).textContent",
                vec![json!(css)],
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits up to [`PAGE_WAIT`] until the text of `css` satisfies `ready`; that text.
    pub async fn wait_text(&self, css: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ready(&text) {
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{css} never showed {what} within {PAGE_WAIT:?}; last text: {text:?}; console: {:?}",
                    self.console_entries().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Marks the current document: [`Browser::document_is_marked`] is true until a reload or a
    /// navigation replaces it.
    pub async fn mark_document(&self) {
        self.js("window.__fusionTestMark = true; return null", vec![])
            .await;
    }

    /// Whether the document marked by [`Browser::mark_document`] is still the one shown.
    pub async fn document_is_marked(&self) -> bool {
        self.js("return window.__fusionTestMark === true", vec![])
            .await
            == Value::Bool(true)
    }

    /// Waits up to [`PAGE_WAIT`] until the `<select>` `css` offers `value`.
    pub async fn wait_for_option(&self, css: &str, value: &str) {
        let script = "const s = document.querySelector(arguments[0]); \
                      return !!s && [...s.options].some(o => o.value === arguments[1])";
        let args = vec![json!(css), json!(value)];
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        while self.js(script, args.clone()).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never offered {value:?} within {PAGE_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses a key (a WebDriver key code such as `"\u{E004}"` for Tab) on whatever has focus.
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{
            "type": "key",
            "id": "keyboard",
            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}],
        }]});
        self.driver_post("actions", actions).await;
    }

    /// The accessible name Chromium computes for `element` (WebDriver's Get Computed Label).
    pub async fn accessible_name(&self, element: &Element) -> String {
        let id = element.element_id();
        let label = self
            .driver_get(&format!("element/{}/computedlabel", &*id))
            .await;
        label.as_str().unwrap_or_default().trim().to_owned()
    }

    /// The accessible role Chromium computes for `element`.
    pub async fn accessible_role(&self, element: &Element) -> String {
        let id = element.element_id();
        let role = self
            .driver_get(&format!("element/{}/computedrole", &*id))
            .await;
        role.as_str().unwrap_or_default().to_owned()
    }
}
