//! Request extractors whose rejections have the API's error shape and never quote the request (serde's
//! messages can contain the values sent, and a value may be a card number), and the idempotent body:
//! the `Idempotency-Key` header with the request's keyed fingerprint.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::idempotency::{Idempotency, MAX_KEY_LEN};
use crate::domain::Error as ApiError;

use super::AppState;

/// Query parameters, with rejections in our error shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|_| ApiError::invalid("parameter_invalid", "Invalid or unknown query parameters.", None))
    }
}

/// Parses a JSON body, describing a failure by its place, never by the value found there.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        if !inner.is_data() {
            return ApiError::invalid("invalid_json", "The request body is not valid JSON.", None);
        }
        if let Some(field) = quoted_field(&text, "missing field `") {
            let param = param_name(&path, Some(field));
            return ApiError::invalid(
                "parameter_missing",
                format!("Missing required parameter: {param}."),
                Some(&param),
            );
        }
        if text.starts_with("unknown field `") {
            // The path already ends with the unknown key.
            let param = param_name(&path, None);
            return ApiError::invalid(
                "parameter_unknown",
                format!("Received unknown parameter: {param}."),
                Some(&param),
            );
        }
        let param = param_name(&path, None);
        ApiError::invalid("parameter_invalid", format!("Invalid value for parameter: {param}."), Some(&param))
    })
}

/// A name from the request fit to repeat: short, word characters, not all digits (a card number sent
/// as a key must not come back in the error).
fn plausible(name: &str) -> &str {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        name
    } else {
        "(unnamed)"
    }
}

/// The field name serde quotes after `marker`.
fn quoted_field<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = text.split_once(marker)?.1;
    Some(plausible(rest.split_once('`')?.0))
}

/// The parameter as the API names it: the innermost field for card fields (`number`, `exp_month`, …,
/// as the browser package names them), else the dotted path. Every segment passes `plausible`.
fn param_name(path: &str, field: Option<&str>) -> String {
    let mut parts: Vec<&str> =
        path.split('.').filter(|p| !p.is_empty() && *p != "?").map(plausible).collect();
    parts.extend(field);
    match parts.as_slice() {
        ["card", inner, ..] => (*inner).to_string(),
        [] => "body".to_string(),
        _ => parts.join("."),
    }
}

fn is_json(req: &Request) -> bool {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

async fn read_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::invalid("body_unreadable", "The request body could not be read.", None)
        }
    })
}

/// The `Idempotency-Key` header, checked: 1 to 255 visible characters.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else { return Ok(None) };
    match raw.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => Ok(Some(k.to_string())),
        _ => Err(ApiError::invalid(
            "parameter_invalid",
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
            Some("Idempotency-Key"),
        )),
    }
}

/// The body's bytes (`None`: an optional body left empty) with its idempotency key and fingerprint.
async fn idempotent_bytes(
    req: Request,
    state: &AppState,
    optional: bool,
) -> Result<(Option<Bytes>, Option<Idempotency>), ApiError> {
    let key = idempotency_key(&req)?;
    let (method, path) = (req.method().as_str().to_string(), req.uri().path().to_string());
    let declared_empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0");
    let json = is_json(&req);
    let no_type = req.headers().get(header::CONTENT_TYPE).is_none();
    let wrong_type = || {
        ApiError::invalid(
            "invalid_content_type",
            "Send the body as JSON, with Content-Type: application/json.",
            None,
        )
    };
    if !json && !(optional && (declared_empty || no_type)) {
        return Err(wrong_type());
    }
    let bytes = read_bytes(req, state).await?;
    let idem = key.map(|key| Idempotency {
        key,
        fingerprint: state.vault.idempotency_fingerprint(&method, &path, &bytes),
    });
    if optional && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, idem));
    }
    if !json {
        return Err(wrong_type());
    }
    Ok((Some(bytes), idem))
}

/// A JSON body and the request's idempotency key (if any).
pub struct IdemJson<T>(pub T, pub Option<Idempotency>);

impl<T: DeserializeOwned> FromRequest<AppState> for IdemJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (bytes, idem) = idempotent_bytes(req, state, false).await?;
        Ok(IdemJson(parse_json(&bytes.unwrap_or_default())?, idem))
    }
}

/// An optional JSON body (empty means `T::default()`) and the request's idempotency key.
pub struct IdemMaybeJson<T>(pub T, pub Option<Idempotency>);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for IdemMaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (bytes, idem) = idempotent_bytes(req, state, true).await?;
        let value = match bytes {
            Some(b) => parse_json(&b)?,
            None => T::default(),
        };
        Ok(IdemMaybeJson(value, idem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        card: Card,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Card {
        number: String,
        exp_month: u32,
    }

    fn err(json: &str) -> (String, Option<String>, String) {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::InvalidRequest { code, message, param }) => (code.to_string(), param, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_errors_name_the_parameter_and_never_the_value() {
        assert_eq!(err("{").0, "invalid_json");
        let (code, param, _) = err(r#"{"card":{"exp_month":1}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_missing", Some("number")));
        let (code, param, _) = err(r#"{"card":{"number":"1","exp_month":1,"pin":"1"}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_unknown", Some("pin")));
        let (code, param, message) = err(r#"{"card":{"number":"1","exp_month":"4242424242424242"}}"#);
        assert_eq!((code.as_str(), param.as_deref()), ("parameter_invalid", Some("exp_month")));
        assert!(!message.contains("4242"), "{message}");
        let (_, param, message) = err(r#"{"card":{"number":"1","exp_month":1,"4242424242424242":1}}"#);
        assert_eq!(param.as_deref(), Some("(unnamed)"));
        assert!(!message.contains("4242"), "{message}");
    }
}
