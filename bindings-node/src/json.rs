//! JSON text in and out of the module.
//!
//! Values cross the boundary as JSON text: `JSON.stringify` on the way in and
//! `JSON.parse` on the way out are far cheaper than building or reading objects
//! property by property through N-API (measured: about 1 µs against 7 µs per
//! step). The JavaScript side rejects NaN, Infinity, fractions, integers beyond
//! 2^53 that are not BigInt, functions and symbols before stringifying, and
//! writes BigInts as plain JSON integers, so the core's serde types see exact
//! values.
//!
//! Integers whose magnitude exceeds `Number.MAX_SAFE_INTEGER` cannot survive
//! `JSON.parse`; on the way out they are written as the string
//! `"\u0000bigint:<digits>"`, which the JavaScript side revives as a `BigInt`.
//! Such values are rare (a fencing token or a reply integer past 2^53), so the
//! text is scanned first and only rewritten when it holds one.

use serde::Serialize;
use serde_json::Value;

use crate::fault::{fault, Result, INTERNAL};

/// Prefix of a big integer written as a string (the JavaScript side revives it).
pub const BIGINT_MARKER: &str = "\u{0}bigint:";
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: u64 = 9_007_199_254_740_991;

/// Serializes `value` for `JSON.parse`, big integers marked.
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let text = serde_json::to_string(value).map_err(|e| fault(INTERNAL, e))?;
    if !has_long_number(&text) {
        return Ok(text);
    }
    let mut value = serde_json::to_value(value).map_err(|e| fault(INTERNAL, e))?;
    mark_big(&mut value);
    serde_json::to_string(&value).map_err(|e| fault(INTERNAL, e))
}

/// Whether the JSON text has a number of 16 or more digits outside strings (the
/// only ones that can exceed 2^53 - 1).
fn has_long_number(text: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut digits = 0;
    for b in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if b.is_ascii_digit() {
            digits += 1;
            if digits >= 16 {
                return true;
            }
        } else {
            digits = 0;
            in_string = b == b'"';
        }
    }
    false
}

fn mark_big(value: &mut Value) {
    match value {
        Value::Number(n) => {
            let big = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u > MAX_SAFE,
                (None, Some(i)) => i.unsigned_abs() > MAX_SAFE,
                _ => false,
            };
            if big {
                *value = Value::String(format!("{BIGINT_MARKER}{n}"));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_big),
        Value::Object(map) => map.values_mut().for_each(mark_big),
        _ => {}
    }
}
