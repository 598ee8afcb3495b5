//! Ranges for the config's numeric knobs: a value outside them is refused at load time with
//! its key and the allowed range, so that a slip such as `retries = 4000000000` (a provider
//! retried for ever) or `max_body_bytes = 0` (every request refused) never reaches a server.

use std::time::Duration;

use super::Config;

/// Most extra attempts after a retryable failure; more only multiplies the wait and the load
/// on a provider that is already failing.
pub const MAX_RETRIES: u32 = 10;
/// Smallest request body limit: below it no chat request fits.
pub const MIN_BODY_BYTES: usize = 1024;
/// Largest request body limit: the body is held in memory while it is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 * 1024;
/// Most calls in flight to one provider.
pub const MAX_CONCURRENCY: usize = 1024;
/// Most calls waiting for one provider's slots.
pub const MAX_QUEUE: usize = 100_000;
/// Longest timeout or interval anywhere in the config.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest shutdown grace period.
pub const MAX_GRACE: Duration = Duration::from_secs(10 * 60);
/// Most connections `fusion serve` holds at once (each costs a file descriptor).
pub const MAX_CONNECTIONS: usize = 65_536;
/// Smallest and largest cap on an upstream answer: below 1 KiB no completion fits; above
/// 1 GiB one answer could take the machine's memory.
pub const MIN_RESPONSE_BYTES: u64 = 1024;
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024 * 1024;
/// Longest a client may take over its headers or pause in its body.
pub const MAX_CLIENT_WAIT: Duration = Duration::from_secs(10 * 60);

/// Checks every bounded knob; `(dotted key, reason)` of the first value out of range.
pub(super) fn validate(config: &Config) -> Result<(), (String, String)> {
    let server = &config.server;
    if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&server.max_body_bytes) {
        return Err((
            "server.max_body_bytes".into(),
            format!(
                "{} is out of range: it must be between {MIN_BODY_BYTES} (1 KiB) and \
                 {MAX_BODY_BYTES} (1 GiB) bytes",
                server.max_body_bytes
            ),
        ));
    }
    at_most("server.shutdown_grace", server.shutdown_grace, MAX_GRACE)?;
    if !(1..=MAX_CONNECTIONS).contains(&server.max_connections) {
        return Err((
            "server.max_connections".into(),
            format!(
                "{} is out of range: it must be between 1 and {MAX_CONNECTIONS}",
                server.max_connections
            ),
        ));
    }
    positive_at_most("server.header_timeout", server.header_timeout)?;
    at_most(
        "server.header_timeout",
        server.header_timeout,
        MAX_CLIENT_WAIT,
    )?;
    positive_at_most("server.body_timeout", server.body_timeout)?;
    at_most("server.body_timeout", server.body_timeout, MAX_CLIENT_WAIT)?;
    for (i, p) in config.providers.iter().enumerate() {
        let key = |field: &str| format!("providers[{i}].{field}");
        if p.retries > MAX_RETRIES {
            return Err((
                key("retries"),
                format!(
                    "{} is out of range: at most {MAX_RETRIES} extra attempts (each waits for \
                     the provider again)",
                    p.retries
                ),
            ));
        }
        if let Some(n) = p.max_concurrency
            && !(1..=MAX_CONCURRENCY).contains(&n)
        {
            return Err((
                key("max_concurrency"),
                format!("{n} is out of range: it must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        if let Some(n) = p.max_queue
            && n > MAX_QUEUE
        {
            return Err((
                key("max_queue"),
                format!("{n} is out of range: at most {MAX_QUEUE} waiting calls"),
            ));
        }
        positive_at_most(&key("timeout"), p.timeout)?;
        if let Some(n) = p.max_response_bytes
            && !(MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&n)
        {
            return Err((
                key("max_response_bytes"),
                format!(
                    "{n} is out of range: it must be between {MIN_RESPONSE_BYTES} (1 KiB) and \
                     {MAX_RESPONSE_BYTES} (1 GiB) bytes"
                ),
            ));
        }
        positive_at_most(&key("catalog_refresh"), p.catalog_refresh)?;
    }
    for (name, council) in &config.councils {
        positive_at_most(&format!("councils.{name}.timeout"), council.timeout)?;
        let size = council.panel.len();
        if let Some(quorum) = council.quorum.filter(|&k| k == 0 || k > size) {
            return Err((
                format!("councils.{name}.quorum"),
                format!(
                    "{quorum} is out of range: it must be between 1 and the panel's size \
                     ({size} member{})",
                    if size == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    let mcp = &config.mcp;
    positive_at_most("mcp.startup_timeout", mcp.startup_timeout)?;
    positive_at_most("mcp.ping_interval", mcp.ping_interval)?;
    for (i, server) in mcp.servers.iter().enumerate() {
        positive_at_most(&format!("mcp.servers[{i}].timeout"), server.timeout)?;
    }
    Ok(())
}

fn positive_at_most(key: &str, value: Duration) -> Result<(), (String, String)> {
    if value.is_zero() {
        return Err((key.into(), "must be positive".into()));
    }
    at_most(key, value, MAX_WAIT)
}

fn at_most(key: &str, value: Duration, max: Duration) -> Result<(), (String, String)> {
    if value > max {
        return Err((
            key.into(),
            format!(
                "{} is out of range: at most {}",
                humantime::format_duration(value),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), (String, String)> {
        let config: Config = toml::from_str(text).unwrap();
        validate(&config)
    }

    const PROVIDER: &str = "[[providers]]\nname = \"p\"\nkind = \"openai\"\n";

    const COUNCIL: &str = "[councils.c]\npanel = [{ model = \"a\" }, { model = \"b\" }, \
                           { model = \"c\" }]\njudge = { model = \"a\" }\n";

    #[test]
    fn a_quorum_must_be_between_one_and_the_panel_size() {
        check(&format!("{COUNCIL}quorum = 2")).unwrap();
        check(&format!("{COUNCIL}quorum = 3")).unwrap();
        for bad in ["0", "4"] {
            let (key, reason) = check(&format!("{COUNCIL}quorum = {bad}")).unwrap_err();
            assert_eq!(key, "councils.c.quorum");
            assert!(
                reason.contains(&format!("{bad} is out of range"))
                    && reason.contains("between 1 and the panel's size (3 members)"),
                "{reason}"
            );
        }
    }

    #[test]
    fn deadline_is_another_spelling_of_the_council_timeout() {
        let config: Config = toml::from_str(&format!("{COUNCIL}deadline = \"20s\"")).unwrap();
        assert_eq!(
            config.councils["c"].timeout,
            std::time::Duration::from_secs(20)
        );
        let (key, _) = check(&format!("{COUNCIL}deadline = \"0s\"")).unwrap_err();
        assert_eq!(key, "councils.c.timeout");
        let both = format!("{COUNCIL}deadline = \"20s\"\ntimeout = \"30s\"");
        assert!(toml::from_str::<Config>(&both).is_err(), "one or the other");
    }

    #[test]
    fn defaults_are_in_range() {
        check("").unwrap();
        check(PROVIDER).unwrap();
    }

    #[test]
    fn retries_beyond_the_bound_name_the_key() {
        let (key, reason) = check(&format!("{PROVIDER}retries = 4000000000")).unwrap_err();
        assert_eq!(key, "providers[0].retries");
        assert!(reason.contains("at most 10"), "{reason}");
        check(&format!("{PROVIDER}retries = 10")).unwrap();
    }

    #[test]
    fn the_body_limit_must_fit_a_request_and_memory() {
        for bad in ["0", "1023", "1073741825"] {
            let (key, _) = check(&format!("[server]\nmax_body_bytes = {bad}")).unwrap_err();
            assert_eq!(key, "server.max_body_bytes");
        }
        check("[server]\nmax_body_bytes = 1024").unwrap();
    }

    #[test]
    fn concurrency_queue_and_waits_are_bounded() {
        let key = |text: &str| check(text).unwrap_err().0;
        assert_eq!(
            key(&format!("{PROVIDER}max_concurrency = 0")),
            "providers[0].max_concurrency"
        );
        assert_eq!(
            key(&format!("{PROVIDER}max_queue = 1000000000")),
            "providers[0].max_queue"
        );
        assert_eq!(
            key(&format!("{PROVIDER}timeout = \"400d\"")),
            "providers[0].timeout"
        );
        assert_eq!(key("[mcp]\nping_interval = \"0s\""), "mcp.ping_interval");
        assert_eq!(
            key("[mcp]\nstartup_timeout = \"0s\""),
            "mcp.startup_timeout"
        );
        assert_eq!(
            key("[server]\nshutdown_grace = \"2h\""),
            "server.shutdown_grace"
        );
        check(&format!("{PROVIDER}max_queue = 0")).unwrap();
    }

    #[test]
    fn connection_limits_and_answer_caps_are_bounded() {
        let key = |text: &str| check(text).unwrap_err().0;
        assert_eq!(
            key("[server]\nmax_connections = 0"),
            "server.max_connections"
        );
        assert_eq!(
            key("[server]\nheader_timeout = \"0s\""),
            "server.header_timeout"
        );
        assert_eq!(
            key("[server]\nbody_timeout = \"1h\""),
            "server.body_timeout"
        );
        assert_eq!(
            key(&format!("{PROVIDER}max_response_bytes = 10")),
            "providers[0].max_response_bytes"
        );
        check(&format!("{PROVIDER}max_response_bytes = 1048576")).unwrap();
        check("[server]\nmax_connections = 3\nheader_timeout = \"1s\"").unwrap();
    }
}
