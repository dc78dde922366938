//! Errors thrown into JavaScript: a stable `code` (from `conformance/errors.json`)
//! and a message. The JavaScript layer turns them into typed error classes.

use std::fmt;

/// The `code` of a JavaScript error thrown by this module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// Result of a native entry point: errors carry a stable code.
pub type Result<T> = napi::Result<T, Code>;

/// Binding-level code: a host value could not be converted (wrong type, NaN,
/// Infinity, fractional, negative where an unsigned integer is needed, ...).
pub const INVALID_INPUT: &str = "INVALID_INPUT";
/// Binding-level code: a bug inside the module (an output that would not
/// serialize; panics are caught by napi and arrive with napi's own status code).
pub const INTERNAL: &str = "INTERNAL";

/// Builds an error with `code` and `message`.
pub fn fault(code: &'static str, message: impl fmt::Display) -> napi::Error<Code> {
    napi::Error::new(Code(code), message.to_string())
}

/// An `INVALID_INPUT` error.
pub fn invalid(message: impl fmt::Display) -> napi::Error<Code> {
    fault(INVALID_INPUT, message)
}
