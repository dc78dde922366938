//! Core errors -> the Python exception hierarchy of `fencelock.errors`.
//!
//! The classes live in Python (so they pickle, subclass and document like any
//! Python exception); the native module raises them by name, each with the
//! core's stable code.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The binding's code for a host value that cannot become a core value.
pub const INVALID_INPUT: &str = "INVALID_INPUT";

/// Builds `fencelock.errors.<class>(code, message)`.
fn raise(py: Python<'_>, class: &str, code: &str, message: String) -> PyErr {
    let made = py
        .import("fencelock.errors")
        .and_then(|module| module.getattr(class))
        .and_then(|cls| cls.call1((code, message.clone())));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        // Only if the package itself is broken: still raise, never panic.
        Err(_) => PyRuntimeError::new_err(format!("[{code}] {message}")),
    }
}

/// `ConfigError` with the core's code.
pub fn config(py: Python<'_>, error: &fencelock_core::ConfigError) -> PyErr {
    raise(py, "ConfigError", error.code(), error.to_string())
}

/// `UsageError` with the core's code.
pub fn usage(py: Python<'_>, error: &fencelock_core::UsageError) -> PyErr {
    raise(py, "UsageError", error.code(), error.to_string())
}

/// `InvalidInput` with code `INVALID_INPUT`.
pub fn invalid_input(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidInput", INVALID_INPUT, message.into())
}

/// `InvalidInput` with another binding-level code (e.g. `INVALID_IDENTIFIER`).
pub fn invalid_input_code(py: Python<'_>, code: &str, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidInput", code, message.into())
}

/// `WireError` with a wire codec's code (`ETCD_GATEWAY_JSON`, ...).
pub fn wire(py: Python<'_>, code: &str, message: impl Into<String>) -> PyErr {
    raise(py, "WireError", code, message.into())
}

/// `InternalError` (code `INTERNAL`): a failure inside the binding itself (never
/// expected).
pub fn internal(message: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "InternalError", "INTERNAL", message.into()))
}
