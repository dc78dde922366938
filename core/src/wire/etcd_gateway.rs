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
use serde_json::{json, Map, Value};

use crate::etcd::{
    parse_decimal, Command, Compare, ErrorKind, EventKind, KeyValue, LeaseId, Op, OpResponse,
    RangeRequest, Reply, SortOrder, SortTarget, WatchEvent,
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

/// The gateway request for `command`; `None` for [`Command::CancelWatch`] (abort
/// the watch's fetch instead).
#[must_use]
pub fn encode(command: &Command) -> Option<GatewayRequest> {
    let (path, body) = match command {
        Command::LeaseGrant { ttl, .. } => ("/v3/lease/grant", json!({ "TTL": ttl.to_string() })),
        Command::LeaseKeepAlive { lease, .. } => {
            ("/v3/lease/keepalive", json!({ "ID": lease.0.to_string() }))
        }
        Command::LeaseRevoke { lease, .. } => {
            ("/v3/lease/revoke", json!({ "ID": lease.0.to_string() }))
        }
        Command::Txn {
            compare,
            success,
            failure,
            ..
        } => (
            "/v3/kv/txn",
            json!({
                "compare": compare.iter().map(encode_compare).collect::<Vec<_>>(),
                "success": success.iter().map(encode_op).collect::<Vec<_>>(),
                "failure": failure.iter().map(encode_op).collect::<Vec<_>>(),
            }),
        ),
        Command::Range { range, .. } => ("/v3/kv/range", encode_range(range)),
        Command::Watch {
            key,
            range_end,
            start_revision,
            ..
        } => {
            let mut create = Map::new();
            create.insert("key".into(), b64(key));
            if let Some(end) = range_end {
                create.insert("range_end".into(), b64(end));
            }
            create.insert(
                "start_revision".into(),
                Value::String(start_revision.to_string()),
            );
            ("/v3/watch", json!({ "create_request": create }))
        }
        Command::CancelWatch { .. } => return None,
    };
    Some(GatewayRequest {
        path,
        body: body.to_string(),
    })
}

fn b64(text: &str) -> Value {
    Value::String(BASE64.encode(text.as_bytes()))
}

fn encode_compare(compare: &Compare) -> Value {
    match compare {
        Compare::CreateRevision { key, revision } => json!({
            "key": b64(key),
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": revision.to_string(),
        }),
    }
}

fn encode_op(op: &Op) -> Value {
    match op {
        Op::Put { key, value, lease } => {
            let mut put = Map::new();
            put.insert("key".into(), b64(key));
            put.insert("value".into(), b64(value));
            if let Some(lease) = lease {
                put.insert("lease".into(), Value::String(lease.0.to_string()));
            }
            json!({ "request_put": put })
        }
        Op::Range(range) => json!({ "request_range": encode_range(range) }),
        Op::DeleteRange { key } => json!({ "request_delete_range": { "key": b64(key) } }),
    }
}

fn encode_range(range: &RangeRequest) -> Value {
    let mut body = Map::new();
    body.insert("key".into(), b64(&range.key));
    if let Some(end) = &range.range_end {
        body.insert("range_end".into(), b64(end));
    }
    if range.limit > 0 {
        body.insert("limit".into(), Value::String(range.limit.to_string()));
    }
    if let Some(sort) = range.sort {
        let order = match sort.order {
            SortOrder::Ascend => "ASCEND",
            SortOrder::Descend => "DESCEND",
        };
        let target = match sort.target {
            SortTarget::Create => "CREATE",
        };
        body.insert("sort_order".into(), order.into());
        body.insert("sort_target".into(), target.into());
    }
    if let Some(max) = range.max_create_revision {
        body.insert("max_create_revision".into(), Value::String(max.to_string()));
    }
    Value::Object(body)
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
    let object = parse(body)?;
    if let Some(error) = error_reply(&object) {
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
                .and_then(Value::as_object)
                .ok_or_else(|| field("result", "missing: not a keep-alive response"))?;
            if let Some(error) = error_reply(result) {
                return Ok(error);
            }
            Ok(Reply::LeaseKeptAlive {
                ttl: counter(result.get("TTL"), "result.TTL")?,
            })
        }
        Command::LeaseRevoke { .. } => {
            header_revision(&object)?;
            Ok(Reply::LeaseRevoked)
        }
        Command::Txn { .. } => {
            let revision = header_revision(&object)?;
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
            revision: header_revision(&object)?,
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
        .and_then(Value::as_object)
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
    let revision = match result.get("header").and_then(Value::as_object) {
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

fn parse(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.len() > MAX_BODY_LEN {
        return Err(GatewayError::Json {
            message: format!("{} bytes, more than {MAX_BODY_LEN}", body.len()),
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
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
fn error_reply(object: &Map<String, Value>) -> Option<Reply> {
    if object.contains_key("header") || object.contains_key("result") {
        return None;
    }
    let (code, message) = match object.get("error") {
        Some(Value::Object(inner)) => (
            inner.get("grpc_code").or_else(|| inner.get("code")),
            inner.get("message").and_then(Value::as_str),
        ),
        Some(Value::String(text)) => (
            object.get("code"),
            object
                .get("message")
                .and_then(Value::as_str)
                .or(Some(text.as_str())),
        ),
        _ if object.contains_key("code") => (
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
fn int64(value: Option<&Value>, name: &'static str) -> Result<u64, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(text)) => {
            parse_decimal(text).ok_or_else(|| field(name, "not a non-negative integer"))
        }
        Some(Value::Number(number)) => number
            .as_u64()
            .ok_or_else(|| field(name, "not a non-negative integer")),
        Some(_) => Err(field(name, "not a number or a string of digits")),
    }
}

/// A counter (revision, version, TTL, count): an int64 no larger than 2^53 - 1.
fn counter(value: Option<&Value>, name: &'static str) -> Result<u64, GatewayError> {
    let n = int64(value, name)?;
    if n > MAX_COUNTER {
        return Err(field(name, "above 2^53 - 1"));
    }
    Ok(n)
}

/// A lease id: `None` when absent or 0, else `1..=i64::MAX`.
fn lease_id(value: Option<&Value>, name: &'static str) -> Result<Option<LeaseId>, GatewayError> {
    let id = int64(value, name)?;
    if id > i64::MAX as u64 {
        return Err(field(name, "does not fit in int64"));
    }
    Ok((id != 0).then_some(LeaseId(id)))
}

fn header_revision(object: &Map<String, Value>) -> Result<u64, GatewayError> {
    let header = object
        .get("header")
        .and_then(Value::as_object)
        .ok_or_else(|| field("header", "missing"))?;
    let revision = counter(header.get("revision"), "header.revision")?;
    if revision == 0 {
        return Err(field("header.revision", "missing"));
    }
    Ok(revision)
}

fn text(value: Option<&Value>, name: &'static str) -> Result<String, GatewayError> {
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

fn key_value(value: &Value) -> Result<KeyValue, GatewayError> {
    let kv = value
        .as_object()
        .ok_or_else(|| field("kvs[]", "not an object"))?;
    if !kv.contains_key("key") {
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

fn kvs(value: Option<&Value>) -> Result<Vec<KeyValue>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(key_value).collect(),
        Some(_) => Err(field("kvs", "not an array")),
    }
}

fn op_response(value: &Value) -> Result<OpResponse, GatewayError> {
    let item = value
        .as_object()
        .ok_or_else(|| field("responses[]", "not an object"))?;
    if let Some(range) = item.get("response_range") {
        let range = range
            .as_object()
            .ok_or_else(|| field("responses[].response_range", "not an object"))?;
        return Ok(OpResponse::Range {
            kvs: kvs(range.get("kvs"))?,
        });
    }
    if item.contains_key("response_put") {
        return Ok(OpResponse::Put);
    }
    if let Some(delete) = item.get("response_delete_range") {
        let delete = delete
            .as_object()
            .ok_or_else(|| field("responses[].response_delete_range", "not an object"))?;
        return Ok(OpResponse::DeleteRange {
            deleted: counter(delete.get("deleted"), "responses[].deleted")?,
        });
    }
    Err(field(
        "responses[]",
        "not a response_range, response_put or response_delete_range",
    ))
}

fn watch_event(value: &Value) -> Result<WatchEvent, GatewayError> {
    let event = value
        .as_object()
        .ok_or_else(|| field("result.events[]", "not an object"))?;
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
