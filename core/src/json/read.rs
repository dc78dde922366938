//! The reader: JSON text to a [`Value`] tree.
//!
//! Strict RFC 8259 with serde_json's limits, so both accept and refuse the same
//! texts: no trailing commas, comments or trailing garbage; strings are valid
//! UTF-8 with paired surrogate escapes and no raw control characters; arrays and
//! objects nest at most [`MAX_DEPTH`] deep. Numbers keep only what the
//! vocabulary needs: exact integers (`u64`, or `i64` below zero). Any other valid
//! number (a fraction, an exponent, `-0`, an integer beyond 64 bits) is
//! [`Number::Other`], never converted; one whose magnitude is beyond `f64`'s
//! range is refused, as serde_json refuses it.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use super::JsonError;

/// Deepest nesting of arrays and objects accepted (serde_json's recursion limit).
pub const MAX_DEPTH: usize = 127;

/// A parsed JSON value. Strings borrow from the text when they have no escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object: its entries in text order, duplicates kept.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// A JSON number as the vocabulary sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    /// A non-negative integer that fits in `u64`.
    U64(u64),
    /// A negative integer that fits in `i64`.
    I64(i64),
    /// Any other number: a fraction, an exponent, `-0`, or an integer beyond 64
    /// bits (serde_json reads these as `f64`).
    Other,
}

impl<'a> Value<'a> {
    /// The value of `key` in an object (the last one, if the key is repeated);
    /// `None` for a missing key or a value that is not an object.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|e| &e.1),
            _ => None,
        }
    }

    /// The text of a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// A boolean.
    #[must_use]
    pub const fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integer.
    #[must_use]
    pub const fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(Number::U64(n)) => Some(*n),
            _ => None,
        }
    }

    /// The items of an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is an object.
    #[must_use]
    pub const fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

/// Parses one JSON value (surrounding whitespace allowed, nothing else).
pub fn parse(text: &[u8]) -> Result<Value<'_>, JsonError> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: MAX_DEPTH + 1,
    };
    let value = parser.value()?;
    parser.skip_ws();
    if parser.pos < text.len() {
        return Err(parser.fail("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    /// Containers that may still be opened, plus one (serde_json's count).
    depth: usize,
}

impl<'a> Parser<'a> {
    fn fail(&self, problem: &'static str) -> JsonError {
        JsonError::syntax(problem, self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then requires `byte`.
    fn expect(&mut self, byte: u8, problem: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.fail(problem))
        }
    }

    fn value(&mut self) -> Result<Value<'a>, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.fail("expected a value")),
            None => Err(self.fail("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.text.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.fail("expected a value"))
        }
    }

    /// Enters an array or object (the opening byte is at `pos`).
    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err(self.fail("nested too deeply"));
        }
        self.pos += 1;
        Ok(())
    }

    fn array(&mut self) -> Result<Value<'a>, JsonError> {
        self.enter()?;
        let mut items = Vec::new();
        self.skip_ws();
        if !self.eat(b']') {
            loop {
                items.push(self.value()?);
                self.skip_ws();
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(self.fail("expected ',' or ']'"));
                }
            }
        }
        self.depth += 1;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value<'a>, JsonError> {
        self.enter()?;
        let mut entries = Vec::new();
        self.skip_ws();
        if !self.eat(b'}') {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.fail("expected a string key"));
                }
                let key = self.string()?;
                self.expect(b':', "expected ':'")?;
                entries.push((key, self.value()?));
                self.skip_ws();
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(self.fail("expected ',' or '}'"));
                }
            }
        }
        self.depth += 1;
        Ok(Value::Object(entries))
    }

    /// A string (the opening quote is at `pos`).
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let mut owned: Option<String> = None;
        let mut start = self.pos;
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.fail("unterminated string"));
            };
            match byte {
                b'"' | b'\\' => {
                    let run = self.utf8(start)?;
                    self.pos += 1;
                    if byte == b'"' {
                        return Ok(match owned {
                            None => Cow::Borrowed(run),
                            Some(mut text) => {
                                text.push_str(run);
                                Cow::Owned(text)
                            }
                        });
                    }
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(run);
                    self.escape(text)?;
                    start = self.pos;
                }
                0..=0x1f => return Err(self.fail("control character in a string")),
                _ => self.pos += 1,
            }
        }
    }

    /// The bytes from `start` to `pos` as UTF-8.
    fn utf8(&self, start: usize) -> Result<&'a str, JsonError> {
        let bytes = self.text.get(start..self.pos).unwrap_or_default();
        core::str::from_utf8(bytes)
            .map_err(|_| JsonError::syntax("invalid UTF-8 in a string", start))
    }

    /// One escape (the backslash is consumed).
    fn escape(&mut self, text: &mut String) -> Result<(), JsonError> {
        let Some(byte) = self.peek() else {
            return Err(self.fail("unterminated string"));
        };
        self.pos += 1;
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = match high {
                    0xdc00..=0xdfff => return Err(self.fail("lone surrogate in an escape")),
                    0xd800..=0xdbff => {
                        if !(self.eat(b'\\') && self.eat(b'u')) {
                            return Err(self.fail("lone surrogate in an escape"));
                        }
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.fail("lone surrogate in an escape"));
                        }
                        0x1_0000 + ((high - 0xd800) << 10 | (low - 0xdc00))
                    }
                    _ => high,
                };
                char::from_u32(code).ok_or_else(|| self.fail("invalid escape"))?
            }
            _ => return Err(self.fail("invalid escape")),
        };
        text.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.fail("invalid \\u escape"))?;
            code = code << 4 | digit;
            self.pos += 1;
        }
        Ok(code)
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn number(&mut self) -> Result<Number, JsonError> {
        let negative = self.eat(b'-');
        let int = self.digits();
        match int {
            [] => return Err(self.fail("invalid number")),
            [b'0', _, ..] => return Err(self.fail("invalid number: leading zero")),
            _ => {}
        }
        let mut exact = true;
        let mut frac: &[u8] = &[];
        if self.eat(b'.') {
            frac = self.digits();
            if frac.is_empty() {
                return Err(self.fail("invalid number"));
            }
            exact = false;
        }
        let mut exp: i64 = 0;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let minus = self.eat(b'-');
            if !minus {
                self.eat(b'+');
            }
            let digits = self.digits();
            if digits.is_empty() {
                return Err(self.fail("invalid number"));
            }
            for d in digits {
                exp = exp.saturating_mul(10).saturating_add(i64::from(d - b'0'));
            }
            if minus {
                exp = -exp;
            }
            exact = false;
        }
        if exact {
            let mut n: u64 = 0;
            let fits = int.iter().all(|d| {
                n.checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(d - b'0')))
                    .map(|m| n = m)
                    .is_some()
            });
            if fits {
                return Ok(match (negative, n) {
                    (false, n) => Number::U64(n),
                    // serde_json reads -0 as a float.
                    (true, 0) => Number::Other,
                    (true, n) if n <= 1 << 63 => Number::I64(0i64.wrapping_sub_unsigned(n)),
                    (true, _) => Number::Other,
                });
            }
        }
        if beyond_f64(int, frac, exp) {
            return Err(self.fail("number out of range"));
        }
        Ok(Number::Other)
    }
}

/// Whether `int.frac * 10^exp` is beyond `f64::MAX` (serde_json refuses those).
fn beyond_f64(int: &[u8], frac: &[u8], exp: i64) -> bool {
    let digits = || int.iter().chain(frac);
    let Some(first) = digits().position(|d| *d != b'0') else {
        return false;
    };
    // The value is in [10^magnitude, 10^(magnitude + 1)).
    let int_len = i64::try_from(int.len()).unwrap_or(i64::MAX);
    let first = i64::try_from(first).unwrap_or(i64::MAX);
    let magnitude = int_len
        .saturating_sub(1)
        .saturating_sub(first)
        .saturating_add(exp);
    match magnitude {
        ..308 => false,
        308 => {
            // Compare the significant digits with f64::MAX rounded half up.
            let limit = b"17976931348623158079";
            let mut significant = digits().skip_while(|d| **d == b'0');
            for l in limit {
                match significant.next() {
                    Some(d) if d > l => return true,
                    Some(d) if d < l => return false,
                    Some(_) => {}
                    None => return false,
                }
            }
            true
        }
        _ => true,
    }
}
