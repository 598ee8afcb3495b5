//! Asking a model for strict JSON: the one implementation of "ask, parse, and on output that
//! cannot be used ask once more showing the parse error", shared by the council's judge, the
//! loop checker and the loop conductor. What to do when both answers fail (the fallback) stays
//! with each caller; this module says why, and hands back the model's raw text. An answer that
//! is well-formed but copies the prompt's example instead of filling it in is as unusable as
//! one that is not JSON ([`echo`] finds the copies).

pub mod echo;

use std::fmt;
use std::future::Future;

use fusion_types::{ChatMessage, Role};

/// Which call of the exchange the model is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// The first call, with the caller's messages.
    First,
    /// The one retry, after an answer that did not parse; the conversation ends with that
    /// answer and the repair request.
    Retry { parse_error: &'a str },
}

/// Something that answers a conversation with text: a registry model, a loop role, a script
/// in tests. It may keep state between the two calls (who answered, the usage spent).
pub trait JsonModel: Send {
    type Error: Send;

    fn call(
        &mut self,
        messages: &[ChatMessage],
        attempt: Attempt<'_>,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;
}

/// Why an answer could not be used, for callers that word the two cases apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Not the object asked for: no JSON, invalid JSON, a missing or invalid field.
    Malformed(String),
    /// A well-formed object that copies the prompt's form instead of filling it in: it repeats
    /// the example's placeholder text, or cites none of the labels it must cite.
    Template(String),
}

impl Unusable {
    /// Whether the answer copied the prompt's form (rather than being malformed).
    pub fn is_template(&self) -> bool {
        matches!(self, Unusable::Template(_))
    }
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Malformed(why) | Unusable::Template(why) => f.write_str(why),
        }
    }
}

impl From<String> for Unusable {
    fn from(why: String) -> Self {
        Unusable::Malformed(why)
    }
}

/// How the exchange ended. `P` is the parse error (a `String`, or [`Unusable`]).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonAnswer<T, E, P = String> {
    /// The first answer parsed.
    Parsed(T),
    /// The retry's answer parsed; `first_error` is why the first one did not.
    Repaired { value: T, first_error: P },
    /// The model could not be asked at all.
    NotAsked(E),
    /// The first answer did not parse and the retry call failed; `raw` is the first answer.
    RetryFailed {
        first_error: P,
        error: E,
        raw: String,
    },
    /// Neither answer parsed; `error` is the retry's parse error and `raw` its text.
    Unparsable {
        first_error: P,
        error: P,
        raw: String,
    },
}

/// Asks `model` with `messages` and parses the answer with `parse`. An answer that does not
/// parse is shown back to the model, followed by [`repair_prompt`] naming the parse error and
/// the expected `keys`, and the model is asked once more.
pub async fn ask<T, P: fmt::Display, M: JsonModel>(
    model: &mut M,
    mut messages: Vec<ChatMessage>,
    keys: &[&str],
    parse: impl Fn(&str) -> Result<T, P>,
) -> JsonAnswer<T, M::Error, P> {
    let first = match model.call(&messages, Attempt::First).await {
        Ok(text) => text,
        Err(error) => return JsonAnswer::NotAsked(error),
    };
    let first_error = match parse(&first) {
        Ok(value) => return JsonAnswer::Parsed(value),
        Err(error) => error,
    };
    let first_why = first_error.to_string();
    messages.push(ChatMessage::text(Role::Assistant, first.clone()));
    messages.push(ChatMessage::text(
        Role::User,
        repair_prompt(&first_why, keys),
    ));
    let retry = Attempt::Retry {
        parse_error: &first_why,
    };
    let second = match model.call(&messages, retry).await {
        Ok(text) => text,
        Err(error) => {
            return JsonAnswer::RetryFailed {
                first_error,
                error,
                raw: first,
            };
        }
    };
    match parse(&second) {
        Ok(value) => JsonAnswer::Repaired { value, first_error },
        Err(error) => JsonAnswer::Unparsable {
            first_error,
            error,
            raw: second,
        },
    }
}

/// The request sent after output that could not be used: the parse error and the keys of the
/// object the system prompt described.
pub fn repair_prompt(parse_error: &str, keys: &[&str]) -> String {
    format!(
        "Your reply could not be used: {parse_error}. Reply again with only the JSON object \
         described above (keys {}), with no other text.",
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Answers from a script and records every conversation it was shown.
    struct Scripted {
        answers: VecDeque<Result<String, String>>,
        seen: Vec<(Vec<ChatMessage>, Option<String>)>,
    }

    impl Scripted {
        fn new(answers: impl IntoIterator<Item = Result<&'static str, &'static str>>) -> Self {
            Scripted {
                answers: answers
                    .into_iter()
                    .map(|a| a.map(str::to_owned).map_err(str::to_owned))
                    .collect(),
                seen: Vec::new(),
            }
        }
    }

    impl JsonModel for Scripted {
        type Error = String;

        async fn call(
            &mut self,
            messages: &[ChatMessage],
            attempt: Attempt<'_>,
        ) -> Result<String, String> {
            let parse_error = match attempt {
                Attempt::First => None,
                Attempt::Retry { parse_error } => Some(parse_error.to_owned()),
            };
            self.seen.push((messages.to_vec(), parse_error));
            self.answers
                .pop_front()
                .unwrap_or_else(|| Err("script ran out".into()))
        }
    }

    fn parse_number(text: &str) -> Result<u32, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("`{}` is not a number", text.trim()))
    }

    fn question() -> Vec<ChatMessage> {
        vec![ChatMessage::text(Role::User, "a number, please")]
    }

    #[tokio::test]
    async fn a_valid_first_answer_is_used_without_a_retry() {
        let mut model = Scripted::new([Ok("42")]);
        let answer = ask(&mut model, question(), &["n"], parse_number).await;
        assert_eq!(answer, JsonAnswer::Parsed(42));
        assert_eq!(model.seen.len(), 1);
        assert_eq!(model.seen[0].1, None);
    }

    #[tokio::test]
    async fn an_invalid_answer_is_retried_once_showing_the_answer_and_its_parse_error() {
        let mut model = Scripted::new([Ok("forty-two"), Ok("42")]);
        let answer = ask(&mut model, question(), &["n", "unit"], parse_number).await;
        assert_eq!(
            answer,
            JsonAnswer::Repaired {
                value: 42,
                first_error: "`forty-two` is not a number".into()
            }
        );
        let (retry, parse_error) = &model.seen[1];
        assert_eq!(parse_error.as_deref(), Some("`forty-two` is not a number"));
        assert_eq!(retry.len(), 3);
        assert_eq!(retry[0], question()[0]);
        assert_eq!(retry[1], ChatMessage::text(Role::Assistant, "forty-two"));
        assert_eq!(
            retry[2],
            ChatMessage::text(
                Role::User,
                "Your reply could not be used: `forty-two` is not a number. Reply again with \
                 only the JSON object described above (keys n, unit), with no other text."
            )
        );
    }

    #[tokio::test]
    async fn two_invalid_answers_fall_back_with_the_retry_error_and_its_text() {
        let mut model = Scripted::new([Ok("one"), Ok("two")]);
        let answer = ask(&mut model, question(), &["n"], parse_number).await;
        assert_eq!(
            answer,
            JsonAnswer::Unparsable {
                first_error: "`one` is not a number".into(),
                error: "`two` is not a number".into(),
                raw: "two".into()
            }
        );
        assert_eq!(model.seen.len(), 2);
    }

    #[tokio::test]
    async fn a_model_that_cannot_be_called_falls_back_without_a_retry() {
        let mut model = Scripted::new([Err("connection refused")]);
        let answer = ask(&mut model, question(), &["n"], parse_number).await;
        assert_eq!(answer, JsonAnswer::NotAsked("connection refused".into()));
        assert_eq!(model.seen.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_retry_call_falls_back_keeping_the_first_answer() {
        let mut model = Scripted::new([Ok("many"), Err("timed out")]);
        let answer = ask(&mut model, question(), &["n"], parse_number).await;
        assert_eq!(
            answer,
            JsonAnswer::RetryFailed {
                first_error: "`many` is not a number".into(),
                error: "timed out".into(),
                raw: "many".into()
            }
        );
    }
}
