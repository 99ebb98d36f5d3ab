//! The error objects the package rejects with: `{type, code, message, param, decline_code, status}`.
//! `js/index.js` turns them into `CardtokenError`s. Messages never quote the input.

use cardtoken_types::wire::ErrorType;
use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

pub(crate) struct Failure<'a> {
    pub kind: ErrorType,
    pub code: &'a str,
    pub message: &'a str,
    pub param: Option<&'a str>,
}

impl Failure<'_> {
    pub(crate) fn validation(
        code: &'static str,
        message: &'static str,
        param: &'static str,
    ) -> Failure<'static> {
        Failure { kind: ErrorType::ValidationError, code, message, param: Some(param) }
    }

    pub(crate) fn into_js(self) -> JsValue {
        let o = Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&o, &JsValue::from_str(k), &v);
        };
        set("type", self.kind.as_str().into());
        set("code", self.code.into());
        set("message", self.message.into());
        set("param", self.param.map_or(JsValue::NULL, JsValue::from_str));
        o.into()
    }
}
