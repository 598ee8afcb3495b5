//! Standard MCP requests whose params do not fit the method. The SDK parses every request into
//! its typed form and hands one that does not parse to the handler as a *custom* request, so
//! without this `tools/call` with `"arguments": [1, 2]` would be answered "method not found"
//! (-32601). A standard method with unfit params is answered Invalid params (-32602), saying
//! what is wrong; a method that is not standard stays "method not found".

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestMethod, CallToolRequestParams, CompleteRequestMethod, CompleteRequestParams,
    ConstString, CustomRequest, ErrorCode, GetPromptRequestMethod, GetPromptRequestParams,
    InitializeRequestParams, InitializeResultMethod, ListPromptsRequestMethod,
    ListResourceTemplatesRequestMethod, ListResourcesRequestMethod, ListToolsRequestMethod,
    PaginatedRequestParams, PingRequestMethod, ReadResourceRequestMethod,
    ReadResourceRequestParams, SubscribeRequestMethod, SubscribeRequestParams,
    UnsubscribeRequestMethod, UnsubscribeRequestParams,
};
// Logging is deprecated by the newest protocol; classic clients still send it.
#[allow(deprecated)]
use rmcp::model::{SetLevelRequestMethod, SetLevelRequestParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The error for a request the SDK could not type: -32602 for a standard method, -32601
/// otherwise.
// resources/(un)subscribe and logging/setLevel are deprecated by the newest protocol.
#[allow(deprecated)]
pub fn unfit(request: &CustomRequest) -> ErrorData {
    let method = request.method.as_str();
    let problem = match method {
        CallToolRequestMethod::VALUE => call_tool_problem(request.params.as_ref()),
        GetPromptRequestMethod::VALUE => problem::<GetPromptRequestParams>(request),
        ReadResourceRequestMethod::VALUE => problem::<ReadResourceRequestParams>(request),
        SubscribeRequestMethod::VALUE => problem::<SubscribeRequestParams>(request),
        UnsubscribeRequestMethod::VALUE => problem::<UnsubscribeRequestParams>(request),
        CompleteRequestMethod::VALUE => problem::<CompleteRequestParams>(request),
        SetLevelRequestMethod::VALUE => problem::<SetLevelRequestParams>(request),
        InitializeResultMethod::VALUE => problem::<InitializeRequestParams>(request),
        ListToolsRequestMethod::VALUE
        | ListPromptsRequestMethod::VALUE
        | ListResourcesRequestMethod::VALUE
        | ListResourceTemplatesRequestMethod::VALUE => problem::<PaginatedRequestParams>(request),
        PingRequestMethod::VALUE => Some("`params` must be an object or absent".to_owned()),
        _ => None,
    };
    match problem {
        Some(problem) => ErrorData::invalid_params(
            format!("invalid params for `{method}`: {problem}"),
            Some(json!({ "method": method })),
        ),
        None => ErrorData::new(ErrorCode::METHOD_NOT_FOUND, method.to_owned(), None),
    }
}

/// What is wrong with `tools/call` params, in the words of the MCP schema.
fn call_tool_problem(params: Option<&Value>) -> Option<String> {
    let Some(params) = params else {
        return Some("`params` with the tool's `name` is required".to_owned());
    };
    let Some(object) = params.as_object() else {
        return Some(format!("`params` must be an object, not {}", kind(params)));
    };
    if let Some(arguments) = object.get("arguments")
        && !arguments.is_object()
        && !arguments.is_null()
    {
        return Some(format!(
            "`arguments` must be an object of the tool's named arguments, not {}",
            kind(arguments)
        ));
    }
    Some(
        serde_json::from_value::<CallToolRequestParams>(params.clone())
            .err()
            .map_or_else(
                || "they do not fit the method".to_owned(),
                |e| e.to_string(),
            ),
    )
}

/// Why `request.params` do not parse as `P` (a generic reason if they do, which cannot happen
/// for a request the SDK failed to type, but is not worth a panic).
fn problem<P: DeserializeOwned>(request: &CustomRequest) -> Option<String> {
    let params = request.params.clone().unwrap_or(Value::Null);
    Some(serde_json::from_value::<P>(params).err().map_or_else(
        || "they do not fit the method".to_owned(),
        |e| e.to_string(),
    ))
}

/// `an array`, `a string`, ... for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(method: &str, params: Value) -> ErrorData {
        unfit(&CustomRequest::new(method, Some(params)))
    }

    #[test]
    fn tools_call_with_array_arguments_is_invalid_params_naming_arguments() {
        let err = answer(
            "tools/call",
            json!({ "name": "fusion_ask", "arguments": [1, 2] }),
        );
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert!(
            err.message.contains("`arguments` must be an object"),
            "{}",
            err.message
        );
        assert!(err.message.contains("an array"), "{}", err.message);
        let err = answer("tools/call", json!({ "arguments": {} }));
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert!(err.message.contains("name"), "{}", err.message);
    }

    #[test]
    fn other_standard_methods_with_unfit_params_are_invalid_params() {
        let err = answer("resources/read", json!({ "uri": 5 }));
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert!(err.message.contains("resources/read"), "{}", err.message);
        let err = answer("tools/list", json!("page 2"));
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn unknown_methods_stay_method_not_found() {
        let err = answer("fusion/teleport", json!({}));
        assert_eq!(err.code, ErrorCode::METHOD_NOT_FOUND);
    }
}
