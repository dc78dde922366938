//! RESP2, the Redis serialization protocol: bytes in, bytes out.
//!
//! For hosts that have a TCP socket but no Redis client library (a Rust host
//! with the standard library's sockets, an edge worker with a raw socket). The
//! codec itself only turns values into bytes and back:
//!
//! - **Encoding** writes requests into a caller-owned `Vec<u8>`:
//!   [`encode_command`] (any command, as an array of bulk strings),
//!   [`encode_eval`] (a [`crate::redlock::Eval`] as `EVALSHA` or `EVAL`),
//!   [`encode_script_load`], and [`encode_value`] (any value, for tests and fake
//!   servers).
//! - **Decoding** is incremental: [`decode`] parses one value from the front of a
//!   buffer and reports how many bytes it used, or `Ok(None)` when the buffer ends
//!   before the value does; append more bytes and call it again. It never panics,
//!   never recurses (nesting is tracked on an explicit stack bounded by
//!   [`Limits::max_depth`]), and never allocates from an announced length beyond
//!   what the buffer actually holds.
//! - **Conversion**: [`RespValue::into_node_reply`] maps a reply into the core's
//!   [`crate::redlock::NodeReply`] vocabulary.
//!
//! ```
//! use fencelock_core::wire::resp::{decode, encode_command, Limits, RespValue};
//!
//! let mut out = Vec::new();
//! encode_command(&[b"PING"], &mut out);
//! assert_eq!(out, b"*1\r\n$4\r\nPING\r\n");
//!
//! let limits = Limits::default();
//! assert_eq!(decode(b"+PO", &limits), Ok(None)); // needs more bytes
//! let (value, used) = decode(b"+PONG\r\n:1\r\n", &limits).unwrap().unwrap();
//! assert_eq!((value, used), (RespValue::Simple("PONG".into()), 7));
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::redlock::{Eval, NodeErrorKind, NodeReply, Script};

/// One RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespValue {
    /// A simple string (`+OK\r\n`). Decoded lossily as UTF-8.
    Simple(String),
    /// An error reply (`-ERR ...\r\n`). Decoded lossily as UTF-8.
    Error(String),
    /// An integer (`:42\r\n`).
    Integer(i64),
    /// A bulk string (`$3\r\nfoo\r\n`); `None` is the nil bulk string (`$-1\r\n`).
    Bulk(Option<Vec<u8>>),
    /// An array (`*2\r\n...`); `None` is the nil array (`*-1\r\n`).
    Array(Option<Vec<RespValue>>),
}

impl RespValue {
    /// Converts a reply into the core's reply vocabulary: integers to
    /// [`NodeReply::Int`], nil bulk strings and nil arrays to [`NodeReply::Nil`],
    /// simple and bulk strings to [`NodeReply::Text`] (lossy UTF-8), arrays to
    /// [`NodeReply::Array`], and error replies to [`NodeReply::Error`] with
    /// [`NodeErrorKind::Server`] and the error text as message.
    #[must_use]
    pub fn into_node_reply(self) -> NodeReply {
        match self {
            RespValue::Integer(value) => NodeReply::Int { value },
            RespValue::Bulk(None) | RespValue::Array(None) => NodeReply::Nil,
            RespValue::Simple(value) => NodeReply::Text { value },
            RespValue::Bulk(Some(bytes)) => NodeReply::Text {
                value: lossy(&bytes),
            },
            RespValue::Array(Some(items)) => NodeReply::Array {
                items: items.into_iter().map(RespValue::into_node_reply).collect(),
            },
            RespValue::Error(message) => NodeReply::Error {
                kind: NodeErrorKind::Server,
                message,
            },
        }
    }

    /// Whether this is a `NOSCRIPT` error reply: the server does not have the
    /// script `EVALSHA` named, so it must be loaded (or sent with `EVAL`).
    #[must_use]
    pub fn is_noscript(&self) -> bool {
        matches!(self, RespValue::Error(message) if message.starts_with("NOSCRIPT"))
    }
}

/// Bounds [`decode`] enforces on untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of arrays accepted; a top-level array is at depth 1.
    /// Default 32.
    pub max_depth: usize,
    /// Longest bulk string (and longest simple string or error line), in bytes.
    /// Default 512 MiB, Redis's own `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Most elements in one array. Default 2^20.
    pub max_array_len: usize,
}

impl Limits {
    /// The default limits: depth 32, bulk strings up to 512 MiB, arrays up to 2^20
    /// elements.
    pub const DEFAULT: Limits = Limits {
        max_depth: 32,
        max_bulk_len: 512 * 1024 * 1024,
        max_array_len: 1 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why [`decode`] refused its input. The stream cannot be resynchronized after
/// either kind: drop the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RespError {
    /// The bytes are not valid RESP2.
    #[error("RESP protocol error at byte {offset}: {reason}")]
    Protocol {
        /// Offset of the offending element in the buffer.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input is valid RESP2 but exceeds a [`Limits`] bound.
    #[error("RESP limit exceeded at byte {offset}: {what} is {got}, at most {max} allowed")]
    Limit {
        /// Offset of the offending element in the buffer.
        offset: usize,
        /// Which bound (`"bulk length"`, `"array length"`, `"depth"`, `"line length"`).
        what: &'static str,
        /// The announced or reached size (at least `max + 1` for line lengths).
        got: u64,
        /// The bound.
        max: u64,
    },
}

impl RespError {
    /// Stable cross-language code: `"RESP_PROTOCOL"` or `"RESP_LIMIT"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            RespError::Protocol { .. } => "RESP_PROTOCOL",
            RespError::Limit { .. } => "RESP_LIMIT",
        }
    }

    /// Offset in the buffer of the element that was refused.
    #[must_use]
    pub const fn offset(&self) -> usize {
        match self {
            RespError::Protocol { offset, .. } | RespError::Limit { offset, .. } => *offset,
        }
    }
}

// ----- encoding ---------------------------------------------------------------

/// Appends the decimal form of `n` (digits only, no sign).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `<tag><n>\r\n`.
fn push_header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    push_decimal(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends a line's text, with CR and LF (which would end the line early)
/// replaced by spaces, as Redis itself does for error replies.
fn push_line(out: &mut Vec<u8>, tag: u8, text: &str) {
    out.push(tag);
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Appends one command: an array of bulk strings, the form every Redis server
/// accepts (`*<n>\r\n` then `$<len>\r\n<arg>\r\n` per argument).
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    push_header(out, b'*', args.len());
    for arg in args {
        push_bulk(out, arg);
    }
}

/// Appends a machine's script command: `EVALSHA <sha1> <numkeys> <keys..> <args..>`
/// when `by_sha`, otherwise `EVAL <source> <numkeys> <keys..> <args..>`.
///
/// Send `EVALSHA` once the scripts are loaded (see [`encode_script_load`]); if the
/// server answers `NOSCRIPT` ([`RespValue::is_noscript`]), load them again or
/// resend with `by_sha = false`.
pub fn encode_eval(eval: &Eval, by_sha: bool, out: &mut Vec<u8>) {
    let (verb, body): (&[u8], &str) = if by_sha {
        (b"EVALSHA", eval.script.sha1())
    } else {
        (b"EVAL", eval.script.source())
    };
    push_header(out, b'*', 3 + eval.keys.len() + eval.args.len());
    push_bulk(out, verb);
    push_bulk(out, body.as_bytes());
    let mut numkeys = Vec::with_capacity(4);
    push_decimal(&mut numkeys, eval.keys.len() as u64);
    push_bulk(out, &numkeys);
    for key in eval.keys.iter() {
        push_bulk(out, key.as_bytes());
    }
    for arg in eval.args.iter() {
        push_bulk(out, arg.as_bytes());
    }
}

/// Appends `SCRIPT LOAD <source>` for `script`; the server replies with the
/// script's SHA1 as a bulk string (which should equal [`Script::sha1`]).
pub fn encode_script_load(script: Script, out: &mut Vec<u8>) {
    encode_command(&[b"SCRIPT", b"LOAD", script.source().as_bytes()], out);
}

/// Appends any value in its RESP2 form (for tests and fake servers). CR and LF
/// inside simple strings and errors are written as spaces, since they cannot
/// appear in those lines.
pub fn encode_value(value: &RespValue, out: &mut Vec<u8>) {
    // An explicit stack, so deep values cannot overflow the call stack.
    let mut stack: Vec<core::slice::Iter<'_, RespValue>> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(value) = next.take() {
            match value {
                RespValue::Simple(text) => push_line(out, b'+', text),
                RespValue::Error(text) => push_line(out, b'-', text),
                RespValue::Integer(n) => {
                    out.push(b':');
                    if *n < 0 {
                        out.push(b'-');
                    }
                    push_decimal(out, n.unsigned_abs());
                    out.extend_from_slice(b"\r\n");
                }
                RespValue::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
                RespValue::Bulk(Some(bytes)) => push_bulk(out, bytes),
                RespValue::Array(None) => out.extend_from_slice(b"*-1\r\n"),
                RespValue::Array(Some(items)) => {
                    push_header(out, b'*', items.len());
                    stack.push(items.iter());
                }
            }
        }
        match stack.last_mut() {
            None => return,
            Some(items) => match items.next() {
                Some(item) => next = Some(item),
                None => {
                    stack.pop();
                }
            },
        }
    }
}

// ----- decoding ---------------------------------------------------------------

/// Longest numeric line accepted: a sign and the 19 digits of `i64::MIN`.
const MAX_NUMBER_LINE: usize = 20;

/// Smallest encoded element (`+\r\n`): bounds the capacity reserved for an array
/// by what the buffer can actually hold.
const MIN_ELEMENT_LEN: usize = 3;

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn protocol(offset: usize, reason: &'static str) -> RespError {
    RespError::Protocol { offset, reason }
}

/// Finds the CRLF-terminated line starting at `from`. Returns the line (without
/// CRLF) and the offset just past the CRLF, or `None` if the buffer ends first.
fn read_line(
    buf: &[u8],
    start: usize,
    from: usize,
    max_len: usize,
    numeric: bool,
) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = buf.get(from..).unwrap_or(&[]);
    let scan = &rest[..rest.len().min(max_len.saturating_add(1))];
    match scan.iter().position(|b| *b == b'\r' || *b == b'\n') {
        Some(i) if scan[i] == b'\n' => Err(protocol(start, "line feed without carriage return")),
        Some(i) => match rest.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((&rest[..i], from + i + 2))),
            Some(_) => Err(protocol(start, "carriage return not followed by line feed")),
        },
        None if scan.len() > max_len => Err(if numeric {
            protocol(start, "number too long")
        } else {
            RespError::Limit {
                offset: start,
                what: "line length",
                got: scan.len() as u64,
                max: max_len as u64,
            }
        }),
        None => Ok(None),
    }
}

/// Parses a canonical decimal integer (an optional `-`, then digits without a
/// leading zero, as Redis writes them), without overflow.
fn parse_int(line: &[u8], start: usize) -> Result<i64, RespError> {
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return Err(protocol(start, "missing number"));
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return Err(protocol(start, "number with a leading zero"));
    }
    if negative && digits == b"0" {
        return Err(protocol(start, "negative zero"));
    }
    let mut n: i64 = 0;
    for b in digits {
        if !b.is_ascii_digit() {
            return Err(protocol(start, "invalid digit in number"));
        }
        let d = i64::from(b - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or_else(|| protocol(start, "number overflows 64 bits"))?;
    }
    Ok(n)
}

/// Parses an aggregate length: `-1` means nil (`None`), other negatives are
/// refused, and lengths above `max` are a limit error.
fn parse_len(
    line: &[u8],
    start: usize,
    what: &'static str,
    max: usize,
) -> Result<Option<usize>, RespError> {
    match parse_int(line, start)? {
        -1 => Ok(None),
        n if n < 0 => Err(protocol(start, "negative length other than -1")),
        n if n as u64 > max as u64 => Err(RespError::Limit {
            offset: start,
            what,
            got: n as u64,
            max: max as u64,
        }),
        // n <= max, which is a usize.
        n => Ok(Some(n as usize)),
    }
}

/// An array whose elements are still being read.
struct Frame {
    remaining: usize,
    items: Vec<RespValue>,
}

/// Decodes one value from the front of `buf`.
///
/// Returns `Ok(Some((value, used)))` with the number of bytes the value took (the
/// caller drops them and keeps the rest, which may hold the next replies),
/// `Ok(None)` when `buf` ends before the value does (call again with more bytes),
/// or `Err` when the bytes are not RESP2 or exceed `limits`. RESP3-only types and
/// inline commands are refused as protocol errors.
///
/// Never panics, never recurses, and never reserves memory for an announced length
/// beyond what `buf` holds. Each call parses from the start of `buf`, so a value
/// that arrives in `k` pieces is scanned up to `k` times.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(RespValue, usize)>, RespError> {
    let mut pos = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let start = pos;
        let Some(&tag) = buf.get(pos) else {
            return Ok(None);
        };
        let (max_line, numeric) = match tag {
            b'+' | b'-' => (limits.max_bulk_len, false),
            b':' | b'$' | b'*' => (MAX_NUMBER_LINE, true),
            _ => return Err(protocol(start, "unknown RESP2 type byte")),
        };
        let Some((line, after_line)) = read_line(buf, start, pos + 1, max_line, numeric)? else {
            return Ok(None);
        };
        let (mut value, next) = match tag {
            b'+' => (RespValue::Simple(lossy(line)), after_line),
            b'-' => (RespValue::Error(lossy(line)), after_line),
            b':' => (RespValue::Integer(parse_int(line, start)?), after_line),
            b'$' => match parse_len(line, start, "bulk length", limits.max_bulk_len)? {
                None => (RespValue::Bulk(None), after_line),
                Some(len) => {
                    // len <= max_bulk_len, but the sum may still overflow on 32-bit.
                    let end = after_line
                        .checked_add(len)
                        .filter(|end| end.checked_add(2).is_some())
                        .ok_or_else(|| protocol(start, "bulk length overflows"))?;
                    if buf.len() < end + 2 {
                        // Refuse a wrong terminator as soon as it is visible.
                        if buf.get(end).is_some_and(|b| *b != b'\r') {
                            return Err(protocol(start, "bulk string not followed by CRLF"));
                        }
                        return Ok(None);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(protocol(start, "bulk string not followed by CRLF"));
                    }
                    (
                        RespValue::Bulk(Some(buf[after_line..end].to_vec())),
                        end + 2,
                    )
                }
            },
            _ => {
                let len = parse_len(line, start, "array length", limits.max_array_len)?;
                let depth = stack.len() + 1;
                if depth > limits.max_depth {
                    return Err(RespError::Limit {
                        offset: start,
                        what: "depth",
                        got: depth as u64,
                        max: limits.max_depth as u64,
                    });
                }
                match len {
                    None => (RespValue::Array(None), after_line),
                    Some(0) => (RespValue::Array(Some(Vec::new())), after_line),
                    Some(len) => {
                        let room = (buf.len() - after_line) / MIN_ELEMENT_LEN;
                        stack.push(Frame {
                            remaining: len,
                            items: Vec::with_capacity(len.min(room)),
                        });
                        pos = after_line;
                        continue;
                    }
                }
            }
        };
        pos = next;
        // Hand the finished value to the arrays it completes.
        loop {
            let Some(frame) = stack.last_mut() else {
                return Ok(Some((value, pos)));
            };
            frame.items.push(value);
            frame.remaining -= 1;
            if frame.remaining > 0 {
                break;
            }
            match stack.pop() {
                Some(frame) => value = RespValue::Array(Some(frame.items)),
                None => return Err(protocol(start, "internal decoder error")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::string::ToString;
    use alloc::sync::Arc;
    use alloc::vec;

    use proptest::prelude::*;

    use super::*;
    use crate::types::{NodeId, RequestId};

    fn enc(value: &RespValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, &mut out);
        out
    }

    fn dec(bytes: &[u8]) -> Result<Option<(RespValue, usize)>, RespError> {
        decode(bytes, &Limits::default())
    }

    fn bulk(text: &str) -> RespValue {
        RespValue::Bulk(Some(text.as_bytes().to_vec()))
    }

    fn code(bytes: &[u8]) -> &'static str {
        dec(bytes).expect_err("should be refused").code()
    }

    #[test]
    fn every_type_round_trips() {
        let values = [
            RespValue::Simple("OK".into()),
            RespValue::Simple(String::new()),
            RespValue::Error("ERR unknown command".into()),
            RespValue::Integer(0),
            RespValue::Integer(-1),
            RespValue::Integer(i64::MAX),
            RespValue::Integer(i64::MIN),
            bulk(""),
            bulk("hello"),
            RespValue::Bulk(Some(vec![0, b'\r', b'\n', 0xff])),
            RespValue::Bulk(None),
            RespValue::Array(None),
            RespValue::Array(Some(vec![])),
            RespValue::Array(Some(vec![
                RespValue::Integer(1),
                RespValue::Array(Some(vec![bulk("a"), RespValue::Bulk(None)])),
                RespValue::Array(None),
                RespValue::Simple("x".into()),
            ])),
        ];
        for value in values {
            let bytes = enc(&value);
            assert_eq!(
                dec(&bytes),
                Ok(Some((value.clone(), bytes.len()))),
                "{value:?}"
            );
        }
    }

    #[test]
    fn exact_wire_forms() {
        assert_eq!(enc(&RespValue::Integer(-42)), b":-42\r\n");
        assert_eq!(enc(&RespValue::Bulk(None)), b"$-1\r\n");
        assert_eq!(enc(&RespValue::Array(None)), b"*-1\r\n");
        assert_eq!(enc(&bulk("foo")), b"$3\r\nfoo\r\n");
        assert_eq!(enc(&RespValue::Error("a\r\nb".into())), b"-a  b\r\n");
        let mut out = Vec::new();
        encode_command(&[b"SET", b"k", b""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn eval_and_script_load_encoding() {
        let eval = Eval {
            req: RequestId(1),
            node: NodeId(0),
            script: Script::Release,
            keys: Arc::from(["fencelock:lock:{a}".to_string()]),
            args: Arc::from(["v-1".to_string()]),
        };
        let mut out = Vec::new();
        encode_eval(&eval, true, &mut out);
        let expected = RespValue::Array(Some(vec![
            bulk("EVALSHA"),
            bulk(Script::Release.sha1()),
            bulk("1"),
            bulk("fencelock:lock:{a}"),
            bulk("v-1"),
        ]));
        assert_eq!(out, enc(&expected));

        out.clear();
        encode_eval(&eval, false, &mut out);
        let (value, _) = dec(&out).unwrap().unwrap();
        let RespValue::Array(Some(items)) = value else {
            panic!("not an array")
        };
        assert_eq!(items[0], bulk("EVAL"));
        assert_eq!(items[1], bulk(Script::Release.source()));
        assert_eq!(items.len(), 5);

        out.clear();
        encode_script_load(Script::Acquire, &mut out);
        let expected = RespValue::Array(Some(vec![
            bulk("SCRIPT"),
            bulk("LOAD"),
            bulk(Script::Acquire.source()),
        ]));
        assert_eq!(out, enc(&expected));
    }

    #[test]
    fn byte_by_byte_needs_more_then_decodes() {
        let value = RespValue::Array(Some(vec![
            RespValue::Simple("OK".into()),
            bulk("hello\r\nworld"),
            RespValue::Array(Some(vec![RespValue::Integer(-7), RespValue::Bulk(None)])),
            RespValue::Error("NOSCRIPT x".into()),
        ]));
        let bytes = enc(&value);
        for cut in 0..bytes.len() {
            assert_eq!(dec(&bytes[..cut]), Ok(None), "prefix of {cut} bytes");
        }
        assert_eq!(dec(&bytes), Ok(Some((value, bytes.len()))));
    }

    #[test]
    fn consumes_one_value_and_leaves_the_rest() {
        let buf = b":1\r\n$2\r\nab\r\n+O";
        let (first, used) = dec(buf).unwrap().unwrap();
        assert_eq!((first, used), (RespValue::Integer(1), 4));
        let (second, used2) = dec(&buf[used..]).unwrap().unwrap();
        assert_eq!((second, used2), (bulk("ab"), 8));
        assert_eq!(dec(&buf[used + used2..]), Ok(None));
    }

    #[test]
    fn nil_forms() {
        assert_eq!(dec(b"$-1\r\n"), Ok(Some((RespValue::Bulk(None), 5))));
        assert_eq!(dec(b"*-1\r\n"), Ok(Some((RespValue::Array(None), 5))));
        assert_eq!(RespValue::Bulk(None).into_node_reply(), NodeReply::Nil);
        assert_eq!(RespValue::Array(None).into_node_reply(), NodeReply::Nil);
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        for bad in [
            &b"?x\r\n"[..],               // unknown type
            b"_\r\n",                     // RESP3 null
            b"PING\r\n",                  // inline command
            b":\r\n",                     // empty integer
            b":-\r\n",                    // sign only
            b":12a\r\n",                  // bad digit
            b":+5\r\n",                   // explicit plus
            b":007\r\n",                  // leading zero
            b":-0\r\n",                   // negative zero
            b"$03\r\nabc\r\n",            // leading zero in a length
            b"$-2\r\n",                   // negative length other than -1
            b"*-5\r\n",                   // same for arrays
            b"$abc\r\n",                  // non-numeric length
            b"$3\r\nfoobar",              // data longer than announced
            b"$3\r\nfoo\n\r",             // wrong terminator
            b"+OK\rX",                    // CR not followed by LF
            b"+OK\n",                     // bare LF
            b":1\n",                      // bare LF in a number
            b":99999999999999999999\r\n", // overflow
            b":-9223372036854775809\r\n", // underflow
            b"$99999999999999999999\r\n", // length overflow
            b":123456789012345678901",    // too long, no CRLF yet
            b"*2\r\n:1\r\n?\r\n",         // bad element
        ] {
            assert_eq!(
                code(bad),
                "RESP_PROTOCOL",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            dec(b":9223372036854775807\r\n").unwrap().unwrap().0,
            RespValue::Integer(i64::MAX)
        );
        assert_eq!(
            dec(b":-9223372036854775808\r\n").unwrap().unwrap().0,
            RespValue::Integer(i64::MIN)
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_depth: 2,
            max_bulk_len: 4,
            max_array_len: 3,
        };
        let refused = |bytes: &[u8]| decode(bytes, &limits).expect_err("limit").code();
        assert_eq!(refused(b"$5\r\n"), "RESP_LIMIT");
        assert_eq!(refused(b"*4\r\n"), "RESP_LIMIT");
        assert_eq!(refused(b"*1\r\n*1\r\n*1\r\n:1\r\n"), "RESP_LIMIT");
        assert_eq!(refused(b"*1\r\n*1\r\n*0\r\n"), "RESP_LIMIT");
        assert_eq!(refused(b"+hello"), "RESP_LIMIT");
        assert!(decode(b"*1\r\n*1\r\n:1\r\n", &limits).unwrap().is_some());
        assert!(decode(b"$4\r\nabcd\r\n", &limits).unwrap().is_some());
        assert!(decode(b"+abcd\r\n", &limits).unwrap().is_some());
        assert_eq!(decode(b"+abcd", &limits), Ok(None));
    }

    #[test]
    fn depth_limit_holds_for_deep_input_without_recursion() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"*1\r\n");
        }
        let err = dec(&deep).unwrap_err();
        assert_eq!(err.code(), "RESP_LIMIT");
        assert_eq!(err.offset(), 32 * 4);

        // Deep values still encode without recursion.
        let mut value = RespValue::Integer(1);
        for _ in 0..100_000 {
            value = RespValue::Array(Some(vec![value]));
        }
        let bytes = enc(&value);
        assert_eq!(bytes.len(), 100_000 * 4 + 4);
        let unlimited = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        let (back, _) = decode(&bytes, &unlimited).unwrap().unwrap();
        // Drop iteratively to keep the test's own stack small.
        let mut node = back;
        let mut depth = 0;
        while let RespValue::Array(Some(mut items)) = node {
            node = items.pop().unwrap();
            depth += 1;
        }
        assert_eq!((depth, node), (100_000, RespValue::Integer(1)));
        let mut node = value;
        while let RespValue::Array(Some(mut items)) = node {
            node = items.pop().unwrap();
        }
    }

    #[test]
    fn huge_announced_lengths_reserve_nothing() {
        // 2^20 elements announced, only a few bytes present: needs more, no big allocation.
        assert_eq!(dec(b"*1048576\r\n:1\r\n"), Ok(None));
        assert_eq!(dec(b"$536870912\r\nab"), Ok(None));
    }

    #[test]
    fn node_reply_conversion() {
        assert_eq!(
            RespValue::Integer(5).into_node_reply(),
            NodeReply::Int { value: 5 }
        );
        assert_eq!(
            RespValue::Simple("OK".into()).into_node_reply(),
            NodeReply::Text { value: "OK".into() }
        );
        assert_eq!(
            RespValue::Bulk(Some(vec![b'a', 0xff])).into_node_reply(),
            NodeReply::Text {
                value: "a\u{fffd}".into()
            }
        );
        assert_eq!(
            RespValue::Array(Some(vec![RespValue::Integer(1), RespValue::Bulk(None)]))
                .into_node_reply(),
            NodeReply::Array {
                items: vec![NodeReply::Int { value: 1 }, NodeReply::Nil]
            }
        );
        let noscript = RespValue::Error("NOSCRIPT No matching script.".into());
        assert!(noscript.is_noscript());
        assert!(!RespValue::Error("ERR x".into()).is_noscript());
        assert!(!RespValue::Simple("NOSCRIPT".into()).is_noscript());
        assert_eq!(
            noscript.into_node_reply(),
            NodeReply::Error {
                kind: NodeErrorKind::Server,
                message: "NOSCRIPT No matching script.".into()
            }
        );
    }

    #[test]
    fn error_codes_and_messages() {
        let err = dec(b"$-3\r\n").unwrap_err();
        assert_eq!(err.code(), "RESP_PROTOCOL");
        assert_eq!(
            err.to_string(),
            "RESP protocol error at byte 0: negative length other than -1"
        );
        let err = decode(
            b"*9\r\n",
            &Limits {
                max_array_len: 8,
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "RESP limit exceeded at byte 0: array length is 9, at most 8 allowed"
        );
    }

    fn line_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[^\r\n]{0,12}").unwrap()
    }

    fn arb_value() -> impl Strategy<Value = RespValue> {
        let leaf = prop_oneof![
            line_text().prop_map(RespValue::Simple),
            line_text().prop_map(RespValue::Error),
            any::<i64>().prop_map(RespValue::Integer),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16))
                .prop_map(RespValue::Bulk),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            proptest::option::of(proptest::collection::vec(inner, 0..6)).prop_map(RespValue::Array)
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let small = Limits { max_depth: 3, max_bulk_len: 8, max_array_len: 4 };
            for limits in [Limits::default(), small] {
                if let Ok(Some((_, used))) = decode(&bytes, &limits) {
                    prop_assert!(used > 0 && used <= bytes.len());
                }
            }
        }

        #[test]
        fn resp_like_bytes_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(&b"*"[..]), Just(&b"$"[..]), Just(&b":"[..]), Just(&b"+"[..]),
                    Just(&b"-"[..]), Just(&b"\r\n"[..]), Just(&b"1"[..]), Just(&b"2"[..]),
                    Just(&b"-1"[..]), Just(&b"0"[..]), Just(&b"\r"[..]), Just(&b"x"[..]),
                ],
                0..40,
            )
        ) {
            let bytes: Vec<u8> = parts.concat();
            if let Ok(Some((value, used))) = dec(&bytes) {
                prop_assert!(used <= bytes.len());
                // Whatever decodes re-encodes to exactly the bytes it used.
                prop_assert_eq!(enc(&value), bytes[..used].to_vec());
            }
        }

        #[test]
        fn encode_then_decode_round_trips(value in arb_value(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let bytes = enc(&value);
            let mut buf = bytes.clone();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(dec(&buf), Ok(Some((value.clone(), bytes.len()))));
            for cut in 0..bytes.len() {
                prop_assert_eq!(dec(&bytes[..cut]), Ok(None));
            }
        }
    }
}
