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

use fencelock_core::json::{from_json, to_json, FromJson, ToJson};

use crate::fault::{invalid, Fault};

/// Prefix of a big integer written as a string (the JavaScript side revives it).
pub const BIGINT_MARKER: &str = "\u{0}bigint:";
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: u64 = 9_007_199_254_740_991;
/// Longest JSON text accepted from the host (16 MiB), so a huge value is a typed
/// error, never an allocation failure inside the module.
pub const MAX_TEXT_LEN: usize = 16 * 1024 * 1024;

/// Writes `value` for `JSON.parse`, big integers marked.
pub fn to_text<T: ToJson + ?Sized>(value: &T) -> String {
    let text = to_json(value);
    if has_long_number(&text) {
        mark_big(&text)
    } else {
        text
    }
}

/// Reads JSON text from the host as `T` (`INVALID_INPUT` when it does not
/// convert; `what` names the value in the message).
pub fn parse<T: FromJson>(what: &str, text: &str) -> Result<T, Fault> {
    if text.len() > MAX_TEXT_LEN {
        return Err(invalid(format!(
            "{what}: {} bytes of JSON, at most {MAX_TEXT_LEN} accepted",
            text.len()
        )));
    }
    from_json(text).map_err(|e| invalid(format!("{what}: {e}")))
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

/// Rewrites every integer outside strings whose magnitude exceeds
/// `Number.MAX_SAFE_INTEGER` as a marked string (the writer emits integers
/// only, so a number token is an optional `-` and digits).
fn mark_big(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 32);
    let (mut i, mut copied) = (0, 0);
    let (mut in_string, mut escaped) = (false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let token = &text[start..i];
            let magnitude = token.trim_start_matches('-');
            if magnitude.parse::<u64>().map_or(true, |m| m > MAX_SAFE) {
                out.push_str(&text[copied..start]);
                out.push_str("\"\\u0000bigint:");
                out.push_str(token);
                out.push('"');
                copied = i;
            }
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integers_are_marked_and_small_ones_are_not() {
        assert_eq!(
            to_text(&[1u64, 9_007_199_254_740_991][..]),
            "[1,9007199254740991]"
        );
        assert_eq!(
            to_text(&[9_007_199_254_740_992u64][..]),
            "[\"\\u0000bigint:9007199254740992\"]"
        );
        assert_eq!(
            to_text(&[i64::MIN, -9_007_199_254_740_991, 7][..]),
            "[\"\\u0000bigint:-9223372036854775808\",-9007199254740991,7]"
        );
        assert_eq!(
            to_text(&[u64::MAX][..]),
            "[\"\\u0000bigint:18446744073709551615\"]"
        );
        assert_eq!(to_text("12345678901234567890"), "\"12345678901234567890\"");
        assert_eq!(
            to_text(&["a\"1234567890123456789\\", "b"][..]),
            "[\"a\\\"1234567890123456789\\\\\",\"b\"]"
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
