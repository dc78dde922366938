//! JSON text in and out of the module.
//!
//! Values cross the boundary as JSON text: `JSON.stringify` on the way in and
//! `JSON.parse` on the way out cost less than building or reading objects
//! property by property across the boundary, and the conversions stay exact
//! (the JavaScript side rejects NaN, Infinity, fractions and unsafe integers
//! before stringifying, and writes BigInts as plain JSON integers).
//!
//! Integers whose magnitude exceeds `Number.MAX_SAFE_INTEGER` cannot survive
//! `JSON.parse`; on the way out they are written as the string
//! `"\u0000bigint:<digits>"`, which the JavaScript side revives as a `BigInt`
//! (the Node binding's convention). Such values are rare (a fencing token or a
//! Redis integer reply beyond 2^53), so the text is scanned first and only
//! rewritten when it holds one.

use alloc::format;
use alloc::string::String;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::fault::{invalid, Fault, INTERNAL};

/// Prefix of a big integer written as a string (the JavaScript side revives it).
pub const BIGINT_MARKER: &str = "\u{0}bigint:";
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: u64 = 9_007_199_254_740_991;
/// Longest JSON text accepted from the host (16 MiB), so a huge value is a typed
/// error, never an allocation failure inside the module.
pub const MAX_TEXT_LEN: usize = 16 * 1024 * 1024;

/// Serializes `value` for `JSON.parse`, big integers marked.
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String, Fault> {
    let text = serde_json::to_string(value).map_err(|e| Fault::new(INTERNAL, e))?;
    if !has_long_number(&text) {
        return Ok(text);
    }
    let mut value = serde_json::to_value(value).map_err(|e| Fault::new(INTERNAL, e))?;
    mark_big(&mut value);
    serde_json::to_string(&value).map_err(|e| Fault::new(INTERNAL, e))
}

/// Deserializes JSON text from the host into `T` (`INVALID_INPUT` when it does
/// not convert; `what` names the value in the message).
pub fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, Fault> {
    if text.len() > MAX_TEXT_LEN {
        return Err(invalid(format!(
            "{what}: {} bytes of JSON, at most {MAX_TEXT_LEN} accepted",
            text.len()
        )));
    }
    serde_json::from_str(text).map_err(|e| invalid(format!("{what}: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integers_are_marked_and_small_ones_are_not() {
        assert_eq!(
            to_text(&[1u64, 9_007_199_254_740_991]).unwrap(),
            "[1,9007199254740991]"
        );
        assert_eq!(
            to_text(&[9_007_199_254_740_992u64]).unwrap(),
            "[\"\\u0000bigint:9007199254740992\"]"
        );
        assert_eq!(
            to_text(&[i64::MIN]).unwrap(),
            "[\"\\u0000bigint:-9223372036854775808\"]"
        );
        assert_eq!(
            to_text("12345678901234567890").unwrap(),
            "\"12345678901234567890\""
        );
    }

    #[test]
    fn oversized_and_malformed_text_is_invalid_input() {
        assert_eq!(parse::<u64>("x", "1.5").unwrap_err().code, "INVALID_INPUT");
        assert_eq!(parse::<u64>("x", "[").unwrap_err().code, "INVALID_INPUT");
        let huge = " ".repeat(MAX_TEXT_LEN + 1);
        assert_eq!(parse::<u64>("x", &huge).unwrap_err().code, "INVALID_INPUT");
    }
}
