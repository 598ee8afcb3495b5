//! The MCP servers page: a child server added from the form runs and shows its tools; a tool
//! denied from the page leaves `/mcp`'s `tools/list` (seen by the official MCP Python client)
//! while the child keeps running and its other tools stay on the page;
//! an invalid edit is refused with its key and reason, and the config file's bytes stay.
//!
//! The child is another `fusion mcp` over stdio (its own tools, `fusion_ask`,
//! `get_cost_estimate`, ...), with a data dir of its own.

use common::FUSION;
use common::mcp_session::Session;

use super::*;

/// How long a child may take to start and list its tools.
const CHILD_START: Duration = Duration::from_secs(60);

impl Dashboard {
    /// Writes the child's config (the same mock models) and fills the add form for a
    /// `fusion mcp` child called `name`, without saving it.
    async fn fill_child_form(&self, name: &str) {
        let child_config = self
            .h
            .write_config("child.toml", &self.h.standard_config("", ""));
        let data = self.h.dir.path().join(format!("{name}-data"));
        let b = &self.browser;
        b.type_into("#mcp-name", name).await;
        b.type_into("#mcp-command", FUSION).await;
        let args = format!("mcp\n--config\n{}", child_config.display());
        b.set_value("#mcp-args", &args).await;
        let env = format!("FUSION_DATA_DIR={}", data.display());
        b.set_value("#mcp-env", &env).await;
    }

    /// Every tool `/mcp` lists now, through a fresh session of the official MCP client.
    async fn mcp_tools(&self) -> Vec<String> {
        let mut session = Session::http(&self.url("/mcp"), &[]).await;
        let names = session.tool_names().await;
        session.quit().await;
        names
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_added_from_the_form_shows_its_tools_and_a_tool_denied_on_the_page_leaves_tools_list()
 {
    let d = Dashboard::start("").await;
    d.open("/ui/mcp").await;
    let b = &d.browser;
    b.wait_text("#mcp-config", "the config file", |t| {
        t.contains("fusion.toml")
    })
    .await;
    d.fill_child_form("kid").await;
    b.click("#mcp-save").await;

    // Listed at once; its tools once the child runs.
    b.find("#mcp-server-kid").await;
    b.find_within(
        "#mcp-tools-kid li[data-tool='get_cost_estimate']",
        CHILD_START,
    )
    .await;
    let file = std::fs::read_to_string(&d.config_path).unwrap();
    assert!(file.contains("name = \"kid\""), "{file}");
    let page = b.body_text().await;
    assert!(
        page.contains("FUSION_DATA_DIR") && !page.contains("kid-data"),
        "env names are shown, never their values:\n{page}"
    );
    let tools = d.mcp_tools().await;
    assert!(tools.iter().any(|t| t == "kid__fusion_ask"), "{tools:?}");
    b.settle().await;
    b.screenshot("mcp-server-added").await;

    let deny = b.find("#mcp-tool-kid-fusion_ask").await;
    assert_eq!(deny.text().await.unwrap(), "Deny");
    assert_eq!(
        b.accessible_name(&deny).await,
        "Deny tool fusion_ask of kid"
    );
    // Found anew to click: the list is redrawn whenever the child's status changes.
    b.click("#mcp-tool-kid-fusion_ask").await;
    b.find("#mcp-tools-kid li.denied[data-tool='fusion_ask']")
        .await;
    let file = std::fs::read_to_string(&d.config_path).unwrap();
    assert!(file.contains("deny = [\"fusion_ask\"]"), "{file}");
    // The change was applied before the page heard back: no restart to wait for.
    let tools = d.mcp_tools().await;
    assert!(!tools.iter().any(|t| t == "kid__fusion_ask"), "{tools:?}");
    assert!(
        tools.iter().any(|t| t == "kid__get_cost_estimate"),
        "the child's other tools stay: {tools:?}"
    );
    b.wait_text("#mcp-tool-kid-fusion_ask", "the Allow button", |t| {
        t == "Allow"
    })
    .await;
    b.find("#mcp-tools-kid li[data-tool='get_cost_estimate']")
        .await;
    let kid = d.api("/api/mcp/servers").await["servers"][0].clone();
    assert_eq!(kid["status"]["state"], "ready", "{kid}");
    assert_eq!(kid["status"]["restarts"], 0, "{kid}");
    b.screenshot("mcp-tool-denied").await;
    d.finish("a server added and a tool denied from the MCP page")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_on_the_mcp_page_is_refused_and_the_config_files_bytes_stay() {
    let d = Dashboard::start("").await;
    d.open("/ui/mcp").await;
    let b = &d.browser;
    b.wait_text("#mcp-config", "the config file", |t| {
        t.contains("fusion.toml")
    })
    .await;
    let before = std::fs::read(&d.config_path).unwrap();

    // A call timeout that is no duration.
    d.fill_child_form("kid").await;
    b.type_into("#mcp-timeout", "soon").await;
    b.expect_console_error("/api/mcp/servers - Failed to load resource");
    b.click("#mcp-save").await;
    let key = b
        .wait_text("#mcp-refusal-key", "the refused key", |t| !t.is_empty())
        .await;
    assert!(key.contains("timeout"), "the key named is {key:?}");
    let reason = b.find("#mcp-refusal-reason").await.text().await.unwrap();
    assert!(!reason.trim().is_empty(), "a reason is given");
    let alert = b.find("#alert").await;
    assert!(
        alert.is_displayed().await.unwrap(),
        "the alert shows it too"
    );
    assert_eq!(
        std::fs::read(&d.config_path).unwrap(),
        before,
        "the config file's bytes are unchanged"
    );
    assert!(
        d.api("/api/mcp/servers").await["servers"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was added"
    );
    b.screenshot("mcp-refused").await;
    d.finish("an invalid MCP edit").await;
}
