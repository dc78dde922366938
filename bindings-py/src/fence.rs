//! The resource side: the core's in-memory `FenceGuard` and its SQL builder.

use fencelock_core::{Admission, FenceGuard, FencingToken};
use pyo3::prelude::*;

use crate::errors;

/// Admits a fencing token only if it is `>=` the highest admitted so far (equal
/// tokens pass, so one holder may write many times).
#[pyclass(module = "fencelock._native", name = "FenceGuard")]
pub struct PyFenceGuard {
    inner: FenceGuard,
}

#[pymethods]
impl PyFenceGuard {
    /// A guard that has admitted nothing yet, or resumes from a persisted
    /// `highest` token.
    #[new]
    #[pyo3(signature = (highest = None))]
    fn new(highest: Option<u64>) -> Self {
        PyFenceGuard {
            inner: highest.map_or_else(FenceGuard::new, |h| FenceGuard::resume(FencingToken(h))),
        }
    }

    /// Records `token` and returns `True`, or returns `False` for a stale token.
    fn admit(&mut self, token: u64) -> bool {
        matches!(self.inner.admit(FencingToken(token)), Admission::Accepted)
    }

    /// The highest token admitted so far, or `None`.
    #[getter]
    fn highest(&self) -> Option<u64> {
        self.inner.highest().map(|t| t.0)
    }

    fn __repr__(&self) -> String {
        match self.inner.highest() {
            Some(t) => format!("FenceGuard(highest={})", t.0),
            None => String::from("FenceGuard()"),
        }
    }
}

/// The fenced SQL write (PostgreSQL `$n` placeholders):
/// `UPDATE table SET c1 = $1, ..., fence = $N WHERE key = $N+1 AND fence <= $N`.
/// Raises `InvalidInput` with code `INVALID_IDENTIFIER` for a name that is not a
/// plain SQL identifier.
#[pyfunction]
pub fn fenced_update_sql(
    py: Python<'_>,
    table: &str,
    columns: Vec<String>,
    fence_column: &str,
    key_column: &str,
) -> PyResult<String> {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    fencelock_core::fenced_update_sql(table, &columns, fence_column, key_column)
        .map_err(|e| errors::invalid_input_code(py, e.code(), e.to_string()))
}
