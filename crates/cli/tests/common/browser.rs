//! A real browser for the dashboard tests: Debian's Chromium (`FUSION_CHROMIUM`), headless,
//! driven over WebDriver with `fantoccini` through a `chromedriver` (`FUSION_CHROMEDRIVER`) of
//! its own on a free loopback port — both from `scripts/install-peers.sh`.
//!
//! A [`Browser`] keeps what the page did: its console (Chrome's `browser` log; a SEVERE entry
//! fails [`Browser::finish`]) and every URL it requested (Chrome's network events from the
//! `performance` log, plus the page's Resource Timing entries; one whose host is not 127.0.0.1
//! fails [`Browser::finish`]). Chromium also resolves every host but 127.0.0.1 to nothing
//! (`--host-resolver-rules`), so a stray request fails loudly instead of leaving the machine.
//! Screenshots go to `$CARGO_TARGET_DIR/fusion-artifacts/dashboard/NAME.png` (default target
//! dir `~/.cache/fusion-target`); each saved path is printed (stderr).
//!
//! chromedriver runs in a process group of its own, killed with everything in it (the browser
//! too) when the [`Browser`] is dropped, so a failing test leaves no Chromium behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{peer, wait_for};

mod keyboard;
mod page;

pub use keyboard::{FocusStop, KeyboardAudit};

/// How long a page gets to show what a test waits for.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);

/// The browser window (CSS pixels).
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
/// The tallest full-page screenshot (CSS pixels).
const MAX_HEIGHT: u32 = 6000;

pub struct Browser {
    pub client: Client,
    /// `http://127.0.0.1:PORT` of chromedriver.
    driver_url: String,
    session: String,
    http: reqwest::Client,
    driver: tokio::process::Child,
    /// The browser's profile and chromedriver's log.
    dir: TempDir,
    /// Every console entry seen so far (Chrome's `browser` log; reading it drains Chrome's copy).
    console: Mutex<Vec<Value>>,
    /// Every URL the browser requested so far.
    requests: Mutex<Vec<String>>,
    /// Console errors a test provoked on purpose: an entry containing one of these is expected.
    expected_errors: Mutex<Vec<String>>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Self {
        let chromedriver = peer("FUSION_CHROMEDRIVER");
        let chromium = peer("FUSION_CHROMIUM");
        let dir = tempfile::tempdir().expect("browser temp dir");
        let port = free_port();
        let driver_url = format!("http://127.0.0.1:{port}");
        let mut command = tokio::process::Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {chromedriver}: {e}"));
        let http = reqwest::Client::new();
        let status = format!("{driver_url}/status");
        wait_for(
            "chromedriver answers /status",
            Duration::from_secs(20),
            || {
                let http = http.clone();
                let status = status.clone();
                async move {
                    let answer = http.get(&status).send().await.ok()?;
                    let body: Value = answer.json().await.ok()?;
                    (body["value"]["ready"] == true).then_some(())
                }
            },
        )
        .await;

        let profile = dir.path().join("profile");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--disable-default-apps",
                    "--disable-dev-shm-usage",
                    // Every host but loopback resolves to nothing: a request meant to leave
                    // 127.0.0.1 fails here (and is still recorded, so the test names it).
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
                "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false},
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver did not open a Chromium session: {e}\nits log:\n{}",
                    std::fs::read_to_string(dir.path().join("chromedriver.log"))
                        .unwrap_or_default()
                )
            });
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session is open");
        let browser = Self {
            client,
            driver_url,
            session,
            http,
            driver,
            dir,
            console: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            expected_errors: Mutex::new(Vec::new()),
        };
        // Whatever Chromium did before the first page (its start page) is not the dashboard's.
        browser
            .driver_post("se/log", json!({"type": "browser"}))
            .await;
        browser
            .driver_post("se/log", json!({"type": "performance"}))
            .await;
        browser
    }

    /// A WebDriver command on this session (`POST /session/ID/PATH`): its `value`.
    pub async fn driver_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.driver_url, self.session);
        let answer = self.http.post(&url).json(&body).send().await;
        let answer = answer.unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.expect("chromedriver answers JSON");
        assert!(status.is_success(), "POST {url} answered {status}: {body}");
        body["value"].clone()
    }

    /// A WebDriver query on this session (`GET /session/ID/PATH`): its `value`.
    pub async fn driver_get(&self, path: &str) -> Value {
        let url = format!("{}/session/{}/{path}", self.driver_url, self.session);
        let answer = self.http.get(&url).send().await;
        let answer = answer.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.expect("chromedriver answers JSON");
        assert!(status.is_success(), "GET {url} answered {status}: {body}");
        body["value"].clone()
    }

    /// Reads Chrome's console and network logs into this browser's records (reading drains
    /// Chrome's copy).
    async fn collect(&self) {
        let console = self.driver_post("se/log", json!({"type": "browser"})).await;
        if let Value::Array(entries) = console {
            self.console.lock().unwrap().extend(entries);
        }
        let mut urls = Vec::new();
        if let Value::Array(entries) = self
            .driver_post("se/log", json!({"type": "performance"}))
            .await
        {
            for entry in entries {
                let Some(message) = entry["message"].as_str() else {
                    continue;
                };
                let Ok(message) = serde_json::from_str::<Value>(message) else {
                    continue;
                };
                let params = &message["message"]["params"];
                match message["message"]["method"].as_str() {
                    Some("Network.requestWillBeSent") => {
                        urls.extend(params["request"]["url"].as_str().map(str::to_owned));
                    }
                    Some("Network.webSocketCreated") => {
                        urls.extend(params["url"].as_str().map(str::to_owned));
                    }
                    _ => {}
                }
            }
        }
        // The page's own view too: what it loaded and fetched, and where it is.
        if let Ok(Value::Array(names)) = self
            .client
            .execute(
                "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))",
                vec![],
            )
            .await
        {
            urls.extend(names.into_iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        self.requests.lock().unwrap().extend(urls);
    }

    /// Every console entry so far (`{"level", "message", "source", "timestamp"}`).
    pub async fn console_entries(&self) -> Vec<Value> {
        self.collect().await;
        self.console.lock().unwrap().clone()
    }

    /// Console errors containing `text` are expected from now on (a refusal the test
    /// provoked: Chrome logs every 4xx answer as a failed resource).
    pub fn expect_console_error(&self, text: &str) {
        self.expected_errors.lock().unwrap().push(text.to_owned());
    }

    /// Fails if the console holds a SEVERE entry (an uncaught error, a failed request, a
    /// `console.error`) that the test did not expect.
    pub async fn assert_no_console_errors(&self, context: &str) {
        let entries = self.console_entries().await;
        let expected = self.expected_errors.lock().unwrap().clone();
        let severe: Vec<&str> = entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default())
            .filter(|m| !expected.iter().any(|x| m.contains(x.as_str())))
            .collect();
        assert!(
            severe.is_empty(),
            "{context}: the browser console has errors:\n{}",
            severe.join("\n")
        );
    }

    /// Every URL the browser requested so far.
    pub async fn requested_urls(&self) -> Vec<String> {
        self.collect().await;
        self.requests.lock().unwrap().clone()
    }

    /// Fails if the browser requested anything but 127.0.0.1 (or a URL that is no request:
    /// `data:`, `blob:`, `about:`, Chromium's own `chrome:` pages).
    pub async fn assert_only_loopback(&self) {
        let urls = self.requested_urls().await;
        assert!(!urls.is_empty(), "no request was recorded at all");
        let outside: Vec<&String> = urls.iter().filter(|u| !stays_on_loopback(u)).collect();
        assert!(
            outside.is_empty(),
            "the page requested something outside 127.0.0.1: {outside:?}"
        );
    }

    /// Saves a full-page screenshot as `fusion-artifacts/dashboard/NAME.png` in the target dir
    /// and prints its path. Chrome's own capture (DevTools `Page.captureScreenshot` beyond the
    /// viewport), so the whole page is in it, however tall (up to a bound).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // The page's full size (at least the window: the content size leaves out the width
        // the scrollbar takes, where the page still draws).
        let size = self
            .js(
                "const d = document.documentElement; \
                 return [Math.max(d.scrollWidth, window.innerWidth), \
                         Math.max(d.scrollHeight, window.innerHeight)]",
                vec![],
            )
            .await;
        let width = size[0].as_f64().unwrap_or(f64::from(WIDTH)).max(1.0);
        let height = size[1]
            .as_f64()
            .unwrap_or(f64::from(HEIGHT))
            .clamp(1.0, f64::from(MAX_HEIGHT));
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await;
        let data = shot["data"].as_str().expect("the screenshot's data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("the screenshot is base64");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("create the artifacts dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// A Chrome DevTools command through chromedriver: its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.driver_post("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// The end of a test: no console error and no request outside 127.0.0.1 over the whole
    /// session, then the session is closed.
    pub async fn finish(self, context: &str) {
        self.assert_no_console_errors(context).await;
        self.assert_only_loopback().await;
        self.close().await;
    }

    /// Closes the session without checking it (a test that provoked errors on purpose).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads its own process group; Chromium and its helpers are in it.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Whether `url` stays on this machine's loopback (or is no network request at all).
pub fn stays_on_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "data" | "blob" | "about" | "chrome" => true,
        "http" | "https" | "ws" | "wss" => parsed.host_str() == Some("127.0.0.1"),
        _ => false,
    }
}

/// `$CARGO_TARGET_DIR/fusion-artifacts/dashboard` (target dir default `~/.cache/fusion-target`).
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/fusion-target")
        });
    target.join("fusion-artifacts/dashboard")
}

/// A port nothing listens on right now, on 127.0.0.1.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
