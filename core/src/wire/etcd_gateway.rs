//! The etcd v3 JSON gateway (`POST /v3/...`), bytes in / bytes out, for hosts that
//! have only `fetch` (edge workers): [`encode`] turns an etcd machine's
//! [`Command`] into a path and a JSON body; [`decode`] turns the response body into
//! the machine's [`Reply`]; [`decode_watch_line`] reads one line of a watch's
//! newline-delimited stream. Checked against etcd 3.4 (the vectors in
//! `conformance/vectors/etcd_gateway` are real request / response pairs).
//!
//! What the gateway does that a client must get right:
//! - keys and values are base64 (standard alphabet);
//! - int64 fields are JSON strings (`"revision":"2"`; lease ids exceed 2^53). The
//!   encoder writes them as strings; the decoder accepts strings or integers;
//! - zero values are omitted: no `succeeded` means false, no `kvs` means none, no
//!   `TTL` in a keep-alive means the lease is gone, a PUT watch event has no `type`;
//! - errors come back as `{"error": .., "code": <gRPC code>, "message": ..}` (with
//!   an HTTP error status); decode them like any other body: they become
//!   [`Reply::Error`] (`lease_not_found` for etcd's "requested lease not found").
//!
//! One keep-alive per HTTP request (etcd ignores further messages streamed in one
//! request). A watch is one long request: feed each line to
//! [`decode_watch_line`] until it returns a reply, then abort the fetch;
//! [`Command::CancelWatch`] has no request ([`encode`] returns `None`): abort the
//! watch's fetch.
//!
//! Malformed bodies never panic: they are [`GatewayError`]s with stable codes
//! (`ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`), which [`reply`] / [`watch_reply`]
//! turn into protocol-error replies for the machine.
//!
//! ```
//! use fencelock_core::etcd::{Command, Reply, LeaseId};
//! use fencelock_core::wire::etcd_gateway::{decode, encode};
//! use fencelock_core::RequestId;
//!
//! let grant = Command::LeaseGrant { req: RequestId(1), ttl: 10 };
//! let request = encode(&grant).unwrap();
//! assert_eq!((request.path, request.body.as_str()), ("/v3/lease/grant", r#"{"TTL":"10"}"#));
//! let body = br#"{"header":{"revision":"1"},"ID":"7587862243934128390","TTL":"10"}"#;
//! assert_eq!(
//!     decode(&grant, body).unwrap(),
//!     Reply::LeaseGranted { lease: LeaseId(7_587_862_243_934_128_390), ttl: 10 }
//! );
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::json::write::key as member;
use crate::json::{parse as parse_json, write_decimal, write_str, Value};
use crate::types::parse_decimal;

use crate::etcd::{
    Command, Compare, ErrorKind, EventKind, KeyValue, LeaseId, Op, OpResponse, RangeRequest, Reply,
    SortOrder, SortTarget, WatchEvent,
};

/// Largest counter (revision, version, TTL) the decoder accepts: 2^53 - 1, so every
/// binding carries it as an exact number.
pub const MAX_COUNTER: u64 = (1 << 53) - 1;

/// Largest response body (or watch line) [`decode`] reads: 16 MiB.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One gateway request: `POST <path>` with `body` (`Content-Type: application/json`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayRequest {
    /// Path under the endpoint, e.g. `/v3/kv/txn`.
    pub path: &'static str,
    /// JSON body.
    pub body: String,
}

/// A response body the decoder could not turn into a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The body is not a JSON object (or is too large or too deeply nested).
    #[error("etcd gateway body is not a JSON object: {message}")]
    Json {
        /// What the parser said.
        message: String,
    },
    /// A field the command needs is missing, or has the wrong type or range.
    #[error("etcd gateway field {field}: {problem}")]
    Field {
        /// The field, as a path (`header.revision`, `kvs[].lease`, ...).
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl GatewayError {
    /// Stable cross-language code: `"ETCD_GATEWAY_JSON"` or `"ETCD_GATEWAY_FIELD"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            GatewayError::Json { .. } => "ETCD_GATEWAY_JSON",
            GatewayError::Field { .. } => "ETCD_GATEWAY_FIELD",
        }
    }

    /// The error as the reply a machine gets: [`ErrorKind::Protocol`].
    #[must_use]
    pub fn into_reply(self) -> Reply {
        Reply::error(ErrorKind::Protocol, self.to_string())
    }
}

fn field(field: &'static str, problem: &'static str) -> GatewayError {
    GatewayError::Field { field, problem }
}

// ----- encoding ---------------------------------------------------------------
//
// Members are written in key order, as a JSON map would write them.

/// The gateway request for `command`; `None` for [`Command::CancelWatch`] (abort
/// the watch's fetch instead).
#[must_use]
pub fn encode(command: &Command) -> Option<GatewayRequest> {
    let mut body = String::with_capacity(160);
    let out = &mut body;
    out.push('{');
    let path = match command {
        Command::LeaseGrant { ttl, .. } => {
            put_int64(out, "TTL", *ttl);
            "/v3/lease/grant"
        }
        Command::LeaseKeepAlive { lease, .. } => {
            put_int64(out, "ID", lease.0);
            "/v3/lease/keepalive"
        }
        Command::LeaseRevoke { lease, .. } => {
            put_int64(out, "ID", lease.0);
            "/v3/lease/revoke"
        }
        Command::Txn {
            compare,
            success,
            failure,
            ..
        } => {
            put_array(out, "compare", compare, encode_compare);
            put_array(out, "failure", failure, encode_op);
            put_array(out, "success", success, encode_op);
            "/v3/kv/txn"
        }
        Command::Range { range, .. } => {
            range_fields(out, range);
            "/v3/kv/range"
        }
        Command::Watch {
            key,
            range_end,
            start_revision,
            ..
        } => {
            member(out, "create_request");
            out.push('{');
            put_base64(out, "key", key);
            if let Some(end) = range_end {
                put_base64(out, "range_end", end);
            }
            put_int64(out, "start_revision", *start_revision);
            out.push('}');
            "/v3/watch"
        }
        Command::CancelWatch { .. } => return None,
    };
    out.push('}');
    Some(GatewayRequest { path, body })
}

// Members of an open object (`json::write::key` puts the comma).

fn put_text(out: &mut String, key: &str, value: &str) {
    member(out, key);
    write_str(out, value);
}

fn put_base64(out: &mut String, key: &str, value: &str) {
    put_text(out, key, &BASE64.encode(value.as_bytes()));
}

/// An int64 as the gateway writes it: a string of digits.
fn put_int64(out: &mut String, key: &str, value: u64) {
    member(out, key);
    write_decimal(out, value);
}

fn put_array<T>(out: &mut String, key: &str, items: &[T], each: fn(&mut String, &T)) {
    member(out, key);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

fn encode_compare(out: &mut String, compare: &Compare) {
    out.push('{');
    match compare {
        Compare::CreateRevision { key, revision } => {
            put_int64(out, "create_revision", *revision);
            put_base64(out, "key", key);
            put_text(out, "result", "EQUAL");
            put_text(out, "target", "CREATE");
        }
    }
    out.push('}');
}

fn encode_op(out: &mut String, op: &Op) {
    out.push('{');
    match op {
        Op::Put { key, value, lease } => {
            member(out, "request_put");
            out.push('{');
            put_base64(out, "key", key);
            if let Some(lease) = lease {
                put_int64(out, "lease", lease.0);
            }
            put_base64(out, "value", value);
            out.push('}');
        }
        Op::Range(range) => {
            member(out, "request_range");
            out.push('{');
            range_fields(out, range);
            out.push('}');
        }
        Op::DeleteRange { key } => {
            member(out, "request_delete_range");
            out.push('{');
            put_base64(out, "key", key);
            out.push('}');
        }
    }
    out.push('}');
}

fn range_fields(out: &mut String, range: &RangeRequest) {
    put_base64(out, "key", &range.key);
    if range.limit > 0 {
        put_int64(out, "limit", range.limit);
    }
    if let Some(max) = range.max_create_revision {
        put_int64(out, "max_create_revision", max);
    }
    if let Some(end) = &range.range_end {
        put_base64(out, "range_end", end);
    }
    if let Some(sort) = range.sort {
        let order = match sort.order {
            SortOrder::Ascend => "ASCEND",
            SortOrder::Descend => "DESCEND",
        };
        let target = match sort.target {
            SortTarget::Create => "CREATE",
        };
        put_text(out, "sort_order", order);
        put_text(out, "sort_target", target);
    }
}

// ----- decoding ---------------------------------------------------------------

/// Decodes the response body (whatever the HTTP status) to `command` into the
/// machine's reply. For a [`Command::Watch`], `body` is the stream read so far:
/// the first line that answers is decoded (see [`decode_watch_line`]).
pub fn decode(command: &Command, body: &[u8]) -> Result<Reply, GatewayError> {
    if let Command::Watch { .. } = command {
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Some(reply) = decode_watch_line(line)? {
                return Ok(reply);
            }
        }
        return Err(field("result", "the watch stream has no answering message"));
    }
    let parsed = parse(body)?;
    let object = &parsed;
    if let Some(error) = error_reply(object) {
        return Ok(error);
    }
    match command {
        Command::LeaseGrant { .. } => {
            if let Some(message) = object.get("error").and_then(Value::as_str) {
                if !message.is_empty() {
                    return Ok(Reply::error(ErrorKind::Server, message));
                }
            }
            let lease = lease_id(object.get("ID"), "ID")?
                .ok_or_else(|| field("ID", "missing: the grant names no lease"))?;
            let ttl = counter(object.get("TTL"), "TTL")?;
            Ok(Reply::LeaseGranted { lease, ttl })
        }
        Command::LeaseKeepAlive { .. } => {
            let result = object
                .get("result")
                .filter(|r| r.is_object())
                .ok_or_else(|| field("result", "missing: not a keep-alive response"))?;
            if let Some(error) = error_reply(result) {
                return Ok(error);
            }
            Ok(Reply::LeaseKeptAlive {
                ttl: counter(result.get("TTL"), "result.TTL")?,
            })
        }
        Command::LeaseRevoke { .. } => {
            header_revision(object)?;
            Ok(Reply::LeaseRevoked)
        }
        Command::Txn { .. } => {
            let revision = header_revision(object)?;
            let succeeded = match object.get("succeeded") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(field("succeeded", "not a boolean")),
            };
            let responses = match object.get("responses") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(op_response)
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err(field("responses", "not an array")),
            };
            Ok(Reply::Txn {
                succeeded,
                revision,
                responses,
            })
        }
        Command::Range { .. } => Ok(Reply::Range {
            revision: header_revision(object)?,
            kvs: kvs(object.get("kvs"))?,
        }),
        Command::CancelWatch { .. } | Command::Watch { .. } => {
            Err(field("command", "cancel_watch has no response"))
        }
    }
}

/// Decodes one line of a watch stream: `Ok(None)` for a line that does not answer
/// the watch (the `created` message, a progress notification), `Ok(Some(reply))`
/// for the first events ([`Reply::Watch`]; PUT events have no `type`), a
/// compaction ([`Reply::WatchCompacted`]), a cancellation or a stream error.
pub fn decode_watch_line(line: &[u8]) -> Result<Option<Reply>, GatewayError> {
    let object = parse(line)?;
    if let Some(error) = error_reply(&object) {
        return Ok(Some(error));
    }
    let result = object
        .get("result")
        .filter(|r| r.is_object())
        .ok_or_else(|| field("result", "missing: not a watch message"))?;
    let compact_revision = counter(result.get("compact_revision"), "result.compact_revision")?;
    if compact_revision > 0 {
        return Ok(Some(Reply::WatchCompacted { compact_revision }));
    }
    if result.get("canceled").and_then(Value::as_bool) == Some(true) {
        let reason = result
            .get("cancel_reason")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(Some(Reply::WatchCanceled {
            reason: reason.into(),
        }));
    }
    let events = match result.get("events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(watch_event)
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(field("result.events", "not an array")),
    };
    let revision = match result.get("header").filter(|h| h.is_object()) {
        Some(header) => counter(header.get("revision"), "result.header.revision")?,
        None => 0,
    };
    Ok(Some(Reply::Watch { revision, events }))
}

/// [`decode`], with a malformed body turned into a protocol-error reply.
#[must_use]
pub fn reply(command: &Command, body: &[u8]) -> Reply {
    decode(command, body).unwrap_or_else(GatewayError::into_reply)
}

/// [`decode_watch_line`], with a malformed line turned into a protocol-error reply.
#[must_use]
pub fn watch_reply(line: &[u8]) -> Option<Reply> {
    decode_watch_line(line).unwrap_or_else(|e| Some(e.into_reply()))
}

/// The body as a JSON object (any other top-level value is refused).
fn parse(body: &[u8]) -> Result<Value<'_>, GatewayError> {
    if body.len() > MAX_BODY_LEN {
        return Err(GatewayError::Json {
            message: format!("{} bytes, more than {MAX_BODY_LEN}", body.len()),
        });
    }
    match parse_json(body) {
        Ok(object) if object.is_object() => Ok(object),
        Ok(_) => Err(GatewayError::Json {
            message: "the top level is not an object".into(),
        }),
        Err(e) => Err(GatewayError::Json {
            message: e.to_string(),
        }),
    }
}

/// A gRPC error (`{"error": .., "code": .., "message": ..}`, or a stream error
/// `{"error": {"grpc_code": .., "message": ..}}`) as a reply; `None` for a
/// response that has a header or a result.
fn error_reply(object: &Value<'_>) -> Option<Reply> {
    if object.get("header").is_some() || object.get("result").is_some() {
        return None;
    }
    let (code, message) = match object.get("error") {
        Some(inner @ Value::Object(_)) => (
            inner.get("grpc_code").or_else(|| inner.get("code")),
            inner.get("message").and_then(Value::as_str),
        ),
        Some(Value::String(text)) => (
            object.get("code"),
            object
                .get("message")
                .and_then(Value::as_str)
                .or(Some(text.as_ref())),
        ),
        _ if object.get("code").is_some() => (
            object.get("code"),
            object.get("message").and_then(Value::as_str),
        ),
        _ => return None,
    };
    let code = code.and_then(Value::as_u64).unwrap_or(0);
    let message = message.unwrap_or_default();
    let kind = if code == 5 && message.contains("lease not found") {
        ErrorKind::LeaseNotFound
    } else {
        ErrorKind::Server
    };
    Some(Reply::error(kind, format!("grpc code {code}: {message}")))
}

/// A non-negative int64 given as a string of digits (or a JSON integer); absent
/// means 0.
fn int64(value: Option<&Value<'_>>, name: &'static str) -> Result<u64, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(text)) => {
            parse_decimal(text).ok_or_else(|| field(name, "not a non-negative integer"))
        }
        Some(number @ Value::Number(_)) => number
            .as_u64()
            .ok_or_else(|| field(name, "not a non-negative integer")),
        Some(_) => Err(field(name, "not a number or a string of digits")),
    }
}

/// A counter (revision, version, TTL, count): an int64 no larger than 2^53 - 1.
fn counter(value: Option<&Value<'_>>, name: &'static str) -> Result<u64, GatewayError> {
    let n = int64(value, name)?;
    if n > MAX_COUNTER {
        return Err(field(name, "above 2^53 - 1"));
    }
    Ok(n)
}

/// A lease id: `None` when absent or 0, else `1..=i64::MAX`.
fn lease_id(
    value: Option<&Value<'_>>,
    name: &'static str,
) -> Result<Option<LeaseId>, GatewayError> {
    let id = int64(value, name)?;
    if id > i64::MAX as u64 {
        return Err(field(name, "does not fit in int64"));
    }
    Ok((id != 0).then_some(LeaseId(id)))
}

fn header_revision(object: &Value<'_>) -> Result<u64, GatewayError> {
    let header = object
        .get("header")
        .filter(|h| h.is_object())
        .ok_or_else(|| field("header", "missing"))?;
    let revision = counter(header.get("revision"), "header.revision")?;
    if revision == 0 {
        return Err(field("header.revision", "missing"));
    }
    Ok(revision)
}

fn text(value: Option<&Value<'_>>, name: &'static str) -> Result<String, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(encoded)) => {
            let bytes = BASE64
                .decode(encoded.as_bytes())
                .map_err(|_| field(name, "not base64"))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Some(_) => Err(field(name, "not a base64 string")),
    }
}

fn key_value(kv: &Value<'_>) -> Result<KeyValue, GatewayError> {
    if !kv.is_object() {
        return Err(field("kvs[]", "not an object"));
    }
    if kv.get("key").is_none() {
        return Err(field("kvs[].key", "missing"));
    }
    Ok(KeyValue {
        key: text(kv.get("key"), "kvs[].key")?,
        create_revision: counter(kv.get("create_revision"), "kvs[].create_revision")?,
        mod_revision: counter(kv.get("mod_revision"), "kvs[].mod_revision")?,
        version: counter(kv.get("version"), "kvs[].version")?,
        lease: lease_id(kv.get("lease"), "kvs[].lease")?,
        value: text(kv.get("value"), "kvs[].value")?,
    })
}

fn kvs(value: Option<&Value<'_>>) -> Result<Vec<KeyValue>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(key_value).collect(),
        Some(_) => Err(field("kvs", "not an array")),
    }
}

fn op_response(item: &Value<'_>) -> Result<OpResponse, GatewayError> {
    if !item.is_object() {
        return Err(field("responses[]", "not an object"));
    }
    if let Some(range) = item.get("response_range") {
        if !range.is_object() {
            return Err(field("responses[].response_range", "not an object"));
        }
        return Ok(OpResponse::Range {
            kvs: kvs(range.get("kvs"))?,
        });
    }
    if item.get("response_put").is_some() {
        return Ok(OpResponse::Put);
    }
    if let Some(delete) = item.get("response_delete_range") {
        if !delete.is_object() {
            return Err(field("responses[].response_delete_range", "not an object"));
        }
        return Ok(OpResponse::DeleteRange {
            deleted: counter(delete.get("deleted"), "responses[].deleted")?,
        });
    }
    Err(field(
        "responses[]",
        "not a response_range, response_put or response_delete_range",
    ))
}

fn watch_event(event: &Value<'_>) -> Result<WatchEvent, GatewayError> {
    if !event.is_object() {
        return Err(field("result.events[]", "not an object"));
    }
    let kind = match event.get("type") {
        None | Some(Value::Null) => EventKind::Put,
        Some(Value::String(t)) if t == "PUT" => EventKind::Put,
        Some(Value::String(t)) if t == "DELETE" => EventKind::Delete,
        Some(_) => return Err(field("result.events[].type", "not PUT or DELETE")),
    };
    let kv = event
        .get("kv")
        .ok_or_else(|| field("result.events[].kv", "missing"))?;
    Ok(WatchEvent {
        kind,
        kv: key_value(kv)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RequestId;

    fn range() -> Command {
        Command::Range {
            req: RequestId(1),
            range: RangeRequest {
                key: "a".into(),
                range_end: None,
                limit: 0,
                sort: None,
                max_create_revision: None,
            },
        }
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "ETCD_GATEWAY_JSON"),
            (b"[1]", "ETCD_GATEWAY_JSON"),
            (b"{\"header\":", "ETCD_GATEWAY_JSON"),
            (b"{}", "ETCD_GATEWAY_FIELD"),
            (b"{\"header\":{\"revision\":\"x\"}}", "ETCD_GATEWAY_FIELD"),
            (b"{\"header\":{\"revision\":\"-1\"}}", "ETCD_GATEWAY_FIELD"),
            (b"{\"header\":{\"revision\":1.5}}", "ETCD_GATEWAY_FIELD"),
            (
                b"{\"header\":{\"revision\":\"9007199254740992\"}}",
                "ETCD_GATEWAY_FIELD",
            ),
            (
                b"{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"!\"}]}",
                "ETCD_GATEWAY_FIELD",
            ),
            (
                b"{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"18446744073709551616\"}]}",
                "ETCD_GATEWAY_FIELD",
            ),
        ];
        for (body, code) in cases {
            let err = decode(&range(), body).unwrap_err();
            assert_eq!(err.code(), *code, "{}", String::from_utf8_lossy(body));
        }
        let mut deep = Vec::new();
        deep.extend(core::iter::repeat_n(b'[', 10_000));
        assert_eq!(
            decode(&range(), &deep).unwrap_err().code(),
            "ETCD_GATEWAY_JSON"
        );
    }
}
