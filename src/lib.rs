//! cardtoken in the browser: card validation and tokenization compiled to WebAssembly.
//!
//! This crate holds only what crosses into JavaScript. The card rules live in `cardtoken-types`
//! (shared with the server); the npm package's public API is `js/index.js`, a thin layer over these
//! exports that builds the contract's result objects.
//!
//! Invariant: no function here returns a card number or CVC to JavaScript, and none logs one. Card data
//! leaves the module only inside the body of the `POST /v1/tokens` request.

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

mod client;
mod errors;
mod validation;

pub use client::Client;
pub use validation::{
    brand_table, format_number, validate_cvc_packed, validate_expiry_packed, validate_number_packed,
};
