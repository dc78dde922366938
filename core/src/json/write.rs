//! The writer: values to compact JSON text, byte for byte as serde_json writes
//! them (no spaces; `"`, `\` and control characters escaped, `\u00XX` in lower
//! case; everything else, non-ASCII included, as is).

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::ToJson;

/// Appends `text` as a JSON string.
pub fn write_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte: both slices end on character boundaries.
        out.push_str(text.get(start..i).unwrap_or_default());
        start = i + 1;
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(text.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends `n` in decimal.
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is a digit.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        digits[i] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in digits.iter().skip(i) {
        out.push(char::from(*d));
    }
}

/// Appends `n` in decimal.
pub fn write_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends `"name":` to an object, after a comma unless it is the first entry.
pub(crate) fn key(out: &mut String, name: &str) {
    separate(out);
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

/// A comma, unless an array or object was just opened.
fn separate(out: &mut String) {
    if !matches!(out.as_bytes().last(), Some(b'{' | b'[')) {
        out.push(',');
    }
}

/// Appends `"name":value` to an object.
pub(crate) fn put<T: ToJson + ?Sized>(out: &mut String, name: &str, value: &T) {
    key(out, name);
    value.write_json(out);
}

/// Opens an internally tagged object: `{"type":"tag"`.
pub(crate) fn open_tagged(out: &mut String, tag: &str) {
    out.push_str("{\"type\":\"");
    out.push_str(tag);
    out.push('"');
}

/// Appends a name that needs no escaping as a JSON string.
pub(crate) fn write_name(out: &mut String, name: &str) {
    out.push('"');
    out.push_str(name);
    out.push('"');
}

impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for Cow<'_, str> {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl ToJson for u64 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, *self);
    }
}

impl ToJson for u32 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, u64::from(*self));
    }
}

impl ToJson for u16 {
    fn write_json(&self, out: &mut String) {
        write_u64(out, u64::from(*self));
    }
}

impl ToJson for i64 {
    fn write_json(&self, out: &mut String) {
        write_i64(out, *self);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for item in self {
            separate(out);
            item.write_json(out);
        }
        out.push(']');
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

impl<T: ToJson + ?Sized> ToJson for Arc<T> {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}
