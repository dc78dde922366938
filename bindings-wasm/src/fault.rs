//! Errors thrown into JavaScript: a stable `code` (from `conformance/errors.json`)
//! and a message, thrown as the string `"CODE: message"`; the JavaScript layer
//! turns it into a typed error class.

use alloc::string::{String, ToString};
use core::fmt;

use wasm_bindgen::JsValue;

/// Binding-level code: a host value could not be converted (wrong type, NaN,
/// Infinity, fractional, negative where an unsigned integer is needed, ...).
pub const INVALID_INPUT: &str = "INVALID_INPUT";
/// Binding-level code: a bug inside the module (an output that would not
/// serialize, an operation on the wrong kind of machine).
pub const INTERNAL: &str = "INTERNAL";

/// An error on its way to JavaScript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Stable code.
    pub code: &'static str,
    /// Human-readable details.
    pub message: String,
}

impl Fault {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl fmt::Display) -> Self {
        Fault {
            code,
            message: message.to_string(),
        }
    }
}

impl From<Fault> for JsValue {
    fn from(fault: Fault) -> JsValue {
        let mut text = String::with_capacity(fault.code.len() + 2 + fault.message.len());
        text.push_str(fault.code);
        text.push_str(": ");
        text.push_str(&fault.message);
        JsValue::from_str(&text)
    }
}

/// An `INVALID_INPUT` error.
pub fn invalid(message: impl fmt::Display) -> Fault {
    Fault::new(INVALID_INPUT, message)
}

/// A core usage error with its stable code.
pub fn usage(e: fencelock_core::UsageError) -> Fault {
    Fault::new(e.code(), e)
}

/// A core configuration error with its stable code.
pub fn config(e: fencelock_core::ConfigError) -> Fault {
    Fault::new(e.code(), e)
}

/// Result of an entry point.
pub type Result<T> = core::result::Result<T, Fault>;
