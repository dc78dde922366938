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

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: u64 = 9_007_199_254_740_991;
/// Longest JSON text accepted from the host (16 MiB), so a huge value is a typed
/// error, never an allocation failure inside the module.
pub const MAX_TEXT_LEN: usize = 16 * 1024 * 1024;

/// Writes `value` for `JSON.parse`, big integers marked.
pub fn to_text<T: ToJson + ?Sized>(value: &T) -> String {
    mark_big(to_json(value))
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

/// Rewrites every integer outside strings whose magnitude exceeds
/// `Number.MAX_SAFE_INTEGER` as a marked string (the writer emits integers
/// only, so a number token is an optional `-` and digits). The text is returned
/// as it is when it has none, which is nearly always.
fn mark_big(text: String) -> String {
    let bytes = text.as_bytes();
    let mut marked: Option<String> = None;
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
                let out = marked.get_or_insert_with(|| String::with_capacity(text.len() + 32));
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
    match marked {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            out
        }
        None => text,
    }
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
