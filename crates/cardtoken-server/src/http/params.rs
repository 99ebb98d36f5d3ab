//! Parameters several routes document alike.

/// The `Idempotency-Key` header any POST may carry.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// At most 255 characters. The same key with the same request replays the stored response for 24 h.
    #[param(rename = "Idempotency-Key", max_length = 255)]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}
