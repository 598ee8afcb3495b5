//! The bearer keys `fusion serve` accepts, read once at start from the environment variables
//! named in `server.api_keys_env`. A named variable that is unset or empty refuses the start
//! (a typo in a name must not leave the server open to anyone), and on an address beyond
//! loopback a key shorter than [`MIN_KEY_CHARS`] is refused (it could be guessed).

use std::net::SocketAddr;

/// Shortest key accepted on an address beyond loopback: 16 random characters are out of reach
/// of guessing over the network; `openssl rand -hex 32` makes a good one.
pub const MIN_KEY_CHARS: usize = 16;

/// The keys named by `names`, looked up through `env`, for a server listening on `listen`.
/// The error names the variable and says what to do.
pub fn keys_from_env(
    names: &[String],
    listen: SocketAddr,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let Some(key) = env(name).filter(|key| !key.trim().is_empty()) else {
            return Err(format!(
                "server.api_keys_env names {name}, but that environment variable is not set \
                 (or is empty): refusing to start without the key it should hold. Export it, \
                 or remove it from server.api_keys_env."
            ));
        };
        let length = key.chars().count();
        if !listen.ip().is_loopback() && length < MIN_KEY_CHARS {
            return Err(format!(
                "the key in {name} has {length} characters; listening on {listen}, beyond \
                 loopback, needs keys of at least {MIN_KEY_CHARS} characters so that nobody on \
                 the network can guess one (make one with `openssl rand -hex 32`)"
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SHORT" => Some("k".into()),
            "LONG" => Some("0123456789abcdef".into()),
            "BLANK" => Some("  ".into()),
            _ => None,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn an_unset_or_empty_variable_refuses_the_start_naming_it() {
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        for name in ["MISSING", "BLANK"] {
            let err = keys_from_env(&names(&["LONG", name]), local, env).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
        assert!(
            keys_from_env(&[], local, env).unwrap().is_empty(),
            "no names: no keys (loopback only, see check_exposure)"
        );
    }

    #[test]
    fn short_keys_are_refused_only_beyond_loopback() {
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        assert_eq!(
            keys_from_env(&names(&["SHORT"]), local, env).unwrap(),
            ["k"]
        );
        let err = keys_from_env(&names(&["SHORT"]), public, env).unwrap_err();
        assert!(err.contains("at least 16"), "{err}");
        assert!(
            !err.contains("\"k\""),
            "the key itself is never shown: {err}"
        );
        assert_eq!(
            keys_from_env(&names(&["LONG"]), public, env).unwrap().len(),
            1
        );
    }
}
