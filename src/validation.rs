//! The as-you-type checks, answered as packed integers: crossing into JavaScript costs one number,
//! and `js/index.js` turns it into the contract's plain object (see `NumberCheck::pack`).

use cardtoken_types::{check_cvc, check_expiry, check_number, Brand, NumberOptions, YearMonth, BRANDS};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

/// `NumberCheck::pack` of the number as typed.
#[wasm_bindgen(js_name = validateNumberPacked)]
pub fn validate_number_packed(input: &str, luhn_union_pay: bool) -> u32 {
    check_number(input, NumberOptions { luhn_union_pay }).pack()
}

/// `ExpiryCheck::pack` of the expiry as typed, "today" being `year`-`month` (the caller's clock).
#[wasm_bindgen(js_name = validateExpiryPacked)]
pub fn validate_expiry_packed(input: &str, year: u16, month: u8, max_years_ahead: u16) -> u32 {
    check_expiry(input, YearMonth::new(year, month), max_years_ahead).pack()
}

/// `CvcCheck::pack` of the code as typed; `brand` is an index into the brand table, or any larger
/// number for "no brand known".
#[wasm_bindgen(js_name = validateCvcPacked)]
pub fn validate_cvc_packed(input: &str, brand: u8) -> u32 {
    check_cvc(input, Brand::from_index(usize::from(brand))).pack()
}

/// The number's digits grouped by its brand's gaps.
#[wasm_bindgen(js_name = formatNumber)]
pub fn format_number(input: &str) -> String {
    cardtoken_types::format_number(input)
}

fn numbers(values: &[u8]) -> Array {
    values.iter().map(|v| JsValue::from(*v)).collect()
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Reflect.set on a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// The brand table, in precedence order: `[{name, niceType, lengths, gaps, cvcLength, cvcName}]`.
/// Called once at start-up; the JavaScript layer caches what it builds from it.
#[wasm_bindgen(js_name = brandTable)]
pub fn brand_table() -> Array {
    BRANDS
        .iter()
        .map(|info| {
            let o = Object::new();
            set(&o, "name", &info.name.into());
            set(&o, "niceType", &info.nice_name.into());
            set(&o, "lengths", &numbers(info.lengths));
            set(&o, "gaps", &numbers(info.gaps));
            set(&o, "cvcLength", &info.cvc_length.into());
            set(&o, "cvcName", &info.cvc_name.into());
            JsValue::from(o)
        })
        .collect()
}
