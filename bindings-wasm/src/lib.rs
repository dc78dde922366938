//! WebAssembly binding of `fencelock-core` (wasm-bindgen), for browsers and edge
//! workers.
//!
//! This module is translation only: it builds the core's machines from the same
//! JSON objects the conformance vectors use, applies inputs, hands back outputs,
//! state and getters, and exposes the core's wire codecs (RESP2 for hosts with
//! a TCP socket, the etcd JSON gateway for hosts with only `fetch`). It holds no
//! lock logic and does no I/O; the JavaScript layer (`lib/`) validates values,
//! runs the drive loop with the host's transport, and maps errors to typed
//! classes.
//!
//! Values cross as JSON text (see [`json`]). A panic in WebAssembly is a trap
//! that poisons the instance, so no entry point may panic on any input: every
//! value is validated here (sizes, integer ranges, kinds) and the core's own
//! checks return typed errors. Errors are thrown as the string `"CODE:
//! message"` with a stable code from `conformance/errors.json`.
#![deny(unsafe_code)]

extern crate alloc;

mod fault;
mod json;
mod machines;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use fencelock_core::fence::{REDIS_FENCED_SET, REDIS_FENCED_SET_SHA1};
use fencelock_core::json::write_str;
use fencelock_core::redlock::{Eval, Script};
use fencelock_core::wire::etcd_gateway;
use fencelock_core::wire::resp::{self, Limits, RespValue};
use fencelock_core::{Admission, FenceGuard as CoreFenceGuard, FencingToken, NodeId, RequestId};
use wasm_bindgen::prelude::*;

use crate::fault::{invalid, Fault, Result};
use crate::machines::{Config, Kind};

/// `Number.MAX_SAFE_INTEGER` as `f64` (2^53 - 1).
const MAX_SAFE_F64: f64 = 9_007_199_254_740_991.0;

/// A time, request id or node id passed as a JavaScript number.
fn whole(what: &str, x: f64) -> Result<u64> {
    if x.is_finite() && x.fract() == 0.0 && (0.0..=MAX_SAFE_F64).contains(&x) {
        // Integral and within 2^53: exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(x as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a non-negative integer up to 2^53 - 1, got {}",
            describe(x)
        )))
    }
}

/// What is wrong with a number that is not a safe integer, in words (the
/// module does not carry float formatting for an error message).
fn describe(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x.is_infinite() {
        if x > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
    } else if x.fract() != 0.0 {
        "a fraction"
    } else if x < 0.0 {
        "a negative number"
    } else {
        "an integer beyond 2^53 - 1"
    }
}

/// An integer reply value passed as a JavaScript number.
fn int_value(value: f64) -> Result<i64> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() <= MAX_SAFE_F64 {
        // Integral and within 2^53: exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(value as i64)
    } else {
        Err(invalid(format!(
            "reply value must be a safe integer, got {}",
            describe(value)
        )))
    }
}

fn node_id(node: f64) -> Result<u16> {
    let node = whole("node", node)?;
    u16::try_from(node).map_err(|_| invalid(format!("node {node} is out of range")))
}

fn seed_of(seed: Option<String>) -> Result<Option<u64>> {
    seed.map(|s| {
        s.parse::<u64>()
            .map_err(|_| invalid(format!("seed must be a 64-bit decimal, got {s:?}")))
    })
    .transpose()
}

/// Names of the machines this build exposes.
#[wasm_bindgen(js_name = machineNames)]
pub fn machine_names() -> Vec<String> {
    machines::NAMES.iter().map(|n| (*n).to_string()).collect()
}

/// Checks a machine's `config` (JSON text) without building a machine: throws
/// `INVALID_INPUT` or the core's configuration error code.
#[wasm_bindgen(js_name = checkConfig)]
pub fn check_config(machine: &str, config: &str) -> core::result::Result<(), JsValue> {
    Config::parse(machine, config).map(drop).map_err(Into::into)
}

/// A core state machine, chosen by name, built from the vectors' `config` and
/// `init` objects (as JSON text) and driven with their inputs.
#[wasm_bindgen]
pub struct WasmMachine {
    name: &'static str,
    inner: Kind,
}

/// The drive calls' result: the next timeout alone as a number (`-1`: none)
/// when there was no output, else the outputs' compact JSON text.
fn timed(kind: &mut Kind) -> Result<JsValue> {
    match kind.drain_compact()? {
        Some(text) => Ok(JsValue::from_str(&text)),
        None => Ok(JsValue::from_f64(timeout_number(kind.poll_timeout()))),
    }
}

fn timeout_number(timeout: Option<u64>) -> f64 {
    // Times stay below 2^53 (the core refuses later ones): exact.
    #[allow(clippy::cast_precision_loss)]
    timeout.map_or(-1.0, |t| t as f64)
}

#[wasm_bindgen]
impl WasmMachine {
    /// Builds machine `machine` from `config` and `init` (JSON text). Throws
    /// `INVALID_INPUT` for values that do not convert, or the core's
    /// configuration error code.
    #[wasm_bindgen(constructor)]
    pub fn new(
        machine: &str,
        config: &str,
        init: &str,
    ) -> core::result::Result<WasmMachine, JsValue> {
        // A config that does not validate is a config error; report it as the
        // vectors expect even when `init` is also bad.
        let cfg = Config::parse(machine, config)?;
        Ok(WasmMachine {
            name: cfg.name(),
            inner: cfg.build(init, None)?,
        })
    }

    /// The machine's name.
    #[wasm_bindgen(getter)]
    pub fn machine(&self) -> String {
        self.name.to_string()
    }

    /// The state's name (`"acquiring"`, `"held"`, ...).
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.inner.state().to_string()
    }

    /// Applies one input (JSON text) and drains every output: a JSON array, or
    /// `undefined` when there are none. On error the machine is unchanged and
    /// emits nothing.
    pub fn step(&mut self, input: &str) -> core::result::Result<Option<String>, JsValue> {
        self.inner.handle_json(input)?;
        Ok(self.inner.drain_json())
    }

    /// The next output as JSON text, or `undefined` once drained.
    #[wasm_bindgen(js_name = pollOutput)]
    pub fn poll_output(&mut self) -> Option<String> {
        self.inner.poll_output_json()
    }

    /// Every queued output as a JSON array, or `undefined` when there are none.
    pub fn drain(&mut self) -> Option<String> {
        self.inner.drain_json()
    }

    /// When the host should deliver the next `timeout` input (ms on its
    /// monotonic clock), or `-1` when no timer is needed.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> f64 {
        timeout_number(self.inner.poll_timeout())
    }

    /// A getter as JSON text: `lease` (redlock), `lock` (etcd mutex and
    /// election) or `leader` (observer); `undefined` for a getter this machine
    /// does not have.
    pub fn view(&self, key: &str) -> Option<String> {
        self.inner.view(key)
    }

    /// Milliseconds of validity left at `now` (0 unless held), as the core
    /// counts it; throws `INVALID_INPUT` for a machine without a validity
    /// (`etcd_observer`, `advisory_lock`).
    pub fn remaining(&self, now: f64) -> core::result::Result<f64, JsValue> {
        let left = self.inner.remaining(whole("now", now)?)?;
        // Less than the end of validity, itself below 2^53: exact.
        #[allow(clippy::cast_precision_loss)]
        Ok(left as f64)
    }

    /// The drive loop's step: applies an input (JSON text), then returns the
    /// next timeout alone as a number (`-1`: none) when there was no output,
    /// else the outputs in the compact form described on `drainCompact`.
    pub fn drive(&mut self, input: &str) -> core::result::Result<JsValue, JsValue> {
        self.inner.handle_json(input)?;
        Ok(timed(&mut self.inner)?)
    }

    /// `drive` without an input: the outputs queued at construction.
    #[wasm_bindgen(js_name = driveDrain)]
    pub fn drive_drain(&mut self) -> core::result::Result<JsValue, JsValue> {
        Ok(timed(&mut self.inner)?)
    }

    /// `drive` for a `timeout` input at `now`.
    #[wasm_bindgen(js_name = driveTimeout)]
    pub fn drive_timeout(&mut self, now: f64) -> core::result::Result<JsValue, JsValue> {
        let now = whole("now", now)?;
        let input = format!("{{\"type\":\"timeout\",\"now\":{now}}}");
        self.inner.handle_json(&input)?;
        Ok(timed(&mut self.inner)?)
    }

    /// `drive` for a Redis integer reply (`{type: "reply", now, req, node,
    /// result: {type: "int", value}}`), the commonest input.
    #[wasm_bindgen(js_name = driveReplyInt)]
    pub fn drive_reply_int(
        &mut self,
        now: f64,
        req: f64,
        node: f64,
        value: f64,
    ) -> core::result::Result<JsValue, JsValue> {
        let (now, req, node, value) = (
            whole("now", now)?,
            whole("req", req)?,
            node_id(node)?,
            int_value(value)?,
        );
        self.inner.reply_int(now, req, node, value)?;
        Ok(timed(&mut self.inner)?)
    }

    /// `drive` for an etcd JSON-gateway answer to request `req`: the response
    /// body (whatever the HTTP status), decoded by the core's codec. Returns
    /// `null` for a watch line that does not answer the watch yet
    /// (`line: true`: `body` is one line of the watch stream).
    #[wasm_bindgen(js_name = driveGateway)]
    pub fn drive_gateway(
        &mut self,
        now: f64,
        req: f64,
        body: &[u8],
        line: bool,
    ) -> core::result::Result<JsValue, JsValue> {
        let (now, req) = (whole("now", now)?, whole("req", req)?);
        if !self.inner.gateway_reply(now, req, body, line)? {
            return Ok(JsValue::NULL);
        }
        Ok(timed(&mut self.inner)?)
    }

    /// `drive` for a gateway request that got no response (`fetch` threw, the
    /// stream broke): `kind` is `timeout`, `connection`, `server` or `protocol`.
    #[wasm_bindgen(js_name = driveGatewayFailure)]
    pub fn drive_gateway_failure(
        &mut self,
        now: f64,
        req: f64,
        kind: &str,
        message: &str,
    ) -> core::result::Result<JsValue, JsValue> {
        let (now, req) = (whole("now", now)?, whole("req", req)?);
        self.inner.gateway_failure(now, req, kind, message)?;
        Ok(timed(&mut self.inner)?)
    }
}

/// A machine's configuration, validated once, from which the host builds one
/// machine per operation (a lock object builds one per lease).
#[wasm_bindgen]
pub struct MachineTemplate {
    config: Config,
}

#[wasm_bindgen]
impl MachineTemplate {
    /// Validates `config` (JSON text) for machine `machine`: throws
    /// `INVALID_INPUT` or the core's configuration error code.
    #[wasm_bindgen(constructor)]
    pub fn new(machine: &str, config: &str) -> core::result::Result<MachineTemplate, JsValue> {
        Ok(MachineTemplate {
            config: Config::parse(machine, config)?,
        })
    }

    /// Builds a machine from `init` (JSON text); `seed` (decimal digits)
    /// replaces the configuration's jitter seed when given.
    pub fn build(
        &self,
        init: &str,
        seed: Option<String>,
    ) -> core::result::Result<WasmMachine, JsValue> {
        Ok(WasmMachine {
            name: self.config.name(),
            inner: self.config.build(init, seed_of(seed)?)?,
        })
    }
}

/// A lock value from 16 bytes of the host's CSPRNG (a version 4 UUID string),
/// as `fencelock_core::lock_value_from_random` formats it.
#[wasm_bindgen(js_name = lockValueFromRandom)]
pub fn lock_value_from_random(bytes: &[u8]) -> core::result::Result<String, JsValue> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| invalid(format!("need exactly 16 random bytes, got {}", bytes.len())))?;
    Ok(fencelock_core::lock_value_from_random(bytes))
}

/// The Lua scripts as JSON text: `[{name, sha1, source}]`, the four Redlock
/// scripts byte for byte as the core defines them, then `fenced_set` (the
/// Redis fenced compare-and-set: `KEYS` highest-token key, data key; `ARGV`
/// token, value; reply: the highest admitted token after the call).
#[wasm_bindgen]
pub fn scripts() -> String {
    let fenced_set = [("fenced_set", REDIS_FENCED_SET_SHA1, REDIS_FENCED_SET)];
    let all = Script::ALL
        .iter()
        .map(|s| (s.name(), s.sha1(), s.source()))
        .chain(fenced_set);
    let mut text = String::from("[");
    for (i, (name, sha1, source)) in all.enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str("{\"name\":");
        write_str(&mut text, name);
        text.push_str(",\"sha1\":");
        write_str(&mut text, sha1);
        text.push_str(",\"source\":");
        write_str(&mut text, source);
        text.push('}');
    }
    text.push(']');
    text
}

// ----- RESP2 (core::wire::resp) ------------------------------------------------------

fn script_named(name: &str) -> Result<Script> {
    Script::ALL
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| invalid(format!("unknown script {name:?}")))
}

/// Encodes a Redlock `eval` command as RESP2: `EVALSHA` (`bySha`) or `EVAL`
/// with the script's source, `keys` and `args`.
#[wasm_bindgen(js_name = respEncodeEval)]
pub fn resp_encode_eval(
    script: &str,
    keys: Vec<String>,
    args: Vec<String>,
    by_sha: bool,
) -> core::result::Result<Vec<u8>, JsValue> {
    // Only the script and its arguments go on the wire: the request and node
    // ids are not part of the command.
    let eval = Eval::new(
        RequestId(0),
        NodeId(0),
        script_named(script)?,
        keys.into(),
        args.into(),
    );
    let mut out = Vec::with_capacity(256);
    resp::encode_eval(&eval, by_sha, &mut out);
    Ok(out)
}

/// The `SCRIPT LOAD` command (RESP2) for the `index`th Redlock script, in the
/// core's order, or `undefined` past the last one: a connection loads them all
/// before its first `EVALSHA`.
#[wasm_bindgen(js_name = respEncodeScriptLoad)]
pub fn resp_encode_script_load(index: usize) -> Option<Vec<u8>> {
    let script = *Script::ALL.get(index)?;
    let mut out = Vec::with_capacity(script.source().len() + 48);
    resp::encode_script_load(script, &mut out);
    Some(out)
}

/// Encodes any command (an array of bulk strings) as RESP2.
#[wasm_bindgen(js_name = respEncodeCommand)]
pub fn resp_encode_command(args: Vec<String>) -> Vec<u8> {
    let parts: Vec<&[u8]> = args.iter().map(String::as_bytes).collect();
    let mut out = Vec::with_capacity(64);
    resp::encode_command(&parts, &mut out);
    out
}

/// An incremental RESP2 reader for one connection: feed it the bytes as they
/// arrive; it hands back every complete reply as the core's `NodeReply`
/// vocabulary. A protocol error (`RESP_PROTOCOL`, `RESP_LIMIT`) is thrown and
/// the connection must be dropped.
#[wasm_bindgen]
pub struct RespReader {
    buf: Vec<u8>,
    limits: Limits,
    failed: Option<Fault>,
}

impl Default for RespReader {
    fn default() -> Self {
        Self::new()
    }
}

/// Largest single reply a [`RespReader`] accepts (16 MiB): far beyond what the
/// lock scripts return, small enough never to exhaust a worker's memory.
const MAX_REPLY_LEN: usize = 16 * 1024 * 1024;

#[wasm_bindgen]
impl RespReader {
    /// A reader with an empty buffer.
    #[wasm_bindgen(constructor)]
    pub fn new() -> RespReader {
        RespReader {
            buf: Vec::new(),
            limits: Limits {
                max_depth: 32,
                max_bulk_len: MAX_REPLY_LEN,
                max_array_len: 1 << 16,
            },
            failed: None,
        }
    }

    /// Appends `bytes` and returns the replies now complete as a JSON array of
    /// `NodeReply` objects (`undefined` when none is complete yet).
    pub fn push(&mut self, bytes: &[u8]) -> core::result::Result<Option<String>, JsValue> {
        if let Some(fault) = &self.failed {
            return Err(fault.clone().into());
        }
        if self.buf.len() + bytes.len() > MAX_REPLY_LEN + 64 {
            let fault = Fault::new(
                "RESP_LIMIT",
                format!("more than {MAX_REPLY_LEN} bytes buffered"),
            );
            self.failed = Some(fault.clone());
            return Err(fault.into());
        }
        self.buf.extend_from_slice(bytes);
        let mut used = 0;
        let mut replies = Vec::new();
        loop {
            match resp::decode(&self.buf[used..], &self.limits) {
                Ok(Some((value, n))) => {
                    used += n;
                    replies.push(value.into_node_reply());
                }
                Ok(None) => break,
                Err(e) => {
                    let fault = Fault::new(e.code(), e);
                    self.failed = Some(fault.clone());
                    self.buf.clear();
                    return Err(fault.into());
                }
            }
        }
        self.buf.drain(..used);
        if replies.is_empty() {
            return Ok(None);
        }
        Ok(Some(json::to_text(&replies)))
    }

    /// Bytes received but not yet part of a complete reply.
    #[wasm_bindgen(getter)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Whether a decoded reply is a `NOSCRIPT` error (the server lacks the script
/// `EVALSHA` named), exactly as the core's RESP codec decides it.
#[wasm_bindgen(js_name = isNoscript)]
pub fn is_noscript(message: &str) -> bool {
    RespValue::Error(message.to_string()).is_noscript()
}

// ----- etcd JSON gateway (core::wire::etcd_gateway) ----------------------------------

/// Encodes an etcd command (JSON text of the vocabulary) as its gateway
/// request: JSON text `{path, body}` (`body` is the request's JSON text), or
/// `undefined` for `cancel_watch`.
#[wasm_bindgen(js_name = gatewayEncode)]
pub fn gateway_encode(command: &str) -> core::result::Result<Option<String>, JsValue> {
    let command: fencelock_core::etcd::Command = json::parse("command", command)?;
    match etcd_gateway::encode(&command) {
        None => Ok(None),
        Some(request) => {
            let mut text = String::from("{\"path\":");
            write_str(&mut text, request.path);
            text.push_str(",\"body\":");
            write_str(&mut text, &request.body);
            text.push('}');
            Ok(Some(text))
        }
    }
}

/// Decodes a gateway response body for `command` (JSON text) into the reply
/// vocabulary (JSON text); a malformed body throws `ETCD_GATEWAY_JSON` or
/// `ETCD_GATEWAY_FIELD`.
#[wasm_bindgen(js_name = gatewayDecode)]
pub fn gateway_decode(command: &str, body: &[u8]) -> core::result::Result<String, JsValue> {
    let command: fencelock_core::etcd::Command = json::parse("command", command)?;
    let reply = etcd_gateway::decode(&command, body).map_err(|e| Fault::new(e.code(), e))?;
    Ok(json::to_text(&reply))
}

/// Decodes one line of a watch stream: the reply (JSON text), or `undefined`
/// for a line that does not answer the watch; a malformed line throws
/// `ETCD_GATEWAY_JSON` or `ETCD_GATEWAY_FIELD`.
#[wasm_bindgen(js_name = gatewayDecodeWatchLine)]
pub fn gateway_decode_watch_line(line: &[u8]) -> core::result::Result<Option<String>, JsValue> {
    match etcd_gateway::decode_watch_line(line).map_err(|e| Fault::new(e.code(), e))? {
        None => Ok(None),
        Some(reply) => Ok(Some(json::to_text(&reply))),
    }
}

// ----- fencing ---------------------------------------------------------------------------

fn token_of(what: &str, digits: &str) -> Result<FencingToken> {
    digits.parse::<u64>().map(FencingToken).map_err(|_| {
        invalid(format!(
            "{what} must be a non-negative 64-bit integer, got {digits:?}"
        ))
    })
}

/// The resource-side guard: admits a fencing token only if it is at least the
/// highest admitted so far (equal tokens pass, so one holder may write often).
/// Tokens cross as decimal strings (they may exceed 2^53).
#[wasm_bindgen]
pub struct FenceGuard {
    inner: CoreFenceGuard,
}

#[wasm_bindgen]
impl FenceGuard {
    /// A guard that has admitted nothing, or that resumes from a persisted
    /// highest token (decimal).
    #[wasm_bindgen(constructor)]
    pub fn new(highest: Option<String>) -> core::result::Result<FenceGuard, JsValue> {
        let inner = match highest {
            Some(h) => CoreFenceGuard::resume(token_of("highest", &h)?),
            None => CoreFenceGuard::new(),
        };
        Ok(FenceGuard { inner })
    }

    /// Admits `token` (decimal) and records it, returning `undefined`; or
    /// refuses it as stale, returning the highest token admitted so far.
    pub fn admit(&mut self, token: &str) -> core::result::Result<Option<String>, JsValue> {
        Ok(match self.inner.admit(token_of("token", token)?) {
            Admission::RejectedStale { highest } => Some(highest.0.to_string()),
            _ => None,
        })
    }

    /// Highest token admitted so far (decimal), or `undefined`.
    #[wasm_bindgen(getter)]
    pub fn highest(&self) -> Option<String> {
        self.inner.highest().map(|t| t.0.to_string())
    }
}

/// The fenced SQL `UPDATE` for `table` (PostgreSQL placeholders): bind the new
/// column values, then the token, then the row key. Throws `INVALID_IDENTIFIER`
/// for an identifier that is not plain.
#[wasm_bindgen(js_name = fencedUpdateSql)]
pub fn fenced_update_sql(
    table: &str,
    columns: Vec<String>,
    fence_column: &str,
    key_column: &str,
) -> core::result::Result<String, JsValue> {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    fencelock_core::fenced_update_sql(table, &columns, fence_column, key_column)
        .map_err(|e| Fault::new(e.code(), e).into())
}
