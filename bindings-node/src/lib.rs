//! Node.js binding of `fencelock-core` (napi-rs).
//!
//! This native module is translation only: it builds the core's machines from
//! the same JSON objects the conformance vectors use, applies inputs, and hands
//! back outputs, state and lease. It holds no lock logic and does no I/O; the
//! JavaScript layer (`lib/`) validates values, runs the drive loop with the
//! application's Redis clients, and maps errors to typed classes.
//!
//! Values cross as JSON text (see [`json`]). Every entry point catches panics
//! (`catch_unwind`), so a bug surfaces as a JavaScript error with code
//! `INTERNAL` instead of aborting the process. Values that do not convert are
//! `INVALID_INPUT` errors; core errors keep their stable codes
//! (`conformance/errors.json`).
#![deny(unsafe_code)]

mod fault;
pub mod gateway;
mod json;
mod machines;
mod redlock_host;

use fencelock_core::fence::{REDIS_FENCED_SET, REDIS_FENCED_SET_SHA1};
use fencelock_core::redlock::Script;
use fencelock_core::{Admission, FenceGuard as CoreFenceGuard, FencingToken};
use napi::bindgen_prelude::{BigInt, Buffer, Either};
use napi_derive::napi;

use crate::fault::{fault, invalid, Result};
use crate::machines::{Config, Hosted};

/// `Number.MAX_SAFE_INTEGER` as `f64` (2^53 - 1).
const MAX_SAFE_F64: f64 = 9_007_199_254_740_991.0;

/// Prefix the module writes before an integer beyond 2^53 - 1 (as a JSON string),
/// for `JSON.parse` revivers to turn back into a `BigInt`.
#[napi]
pub const BIGINT_MARKER: &str = json::BIGINT_MARKER;

/// A core state machine, chosen by name (`"redlock"`, `"etcd_mutex"`, ...),
/// built from the vectors' `config` and `init` objects (as JSON text) and
/// driven with their inputs.
#[napi]
pub struct NativeMachine {
    name: &'static str,
    inner: Box<dyn Hosted>,
}

/// A time, request id or node id passed as a JavaScript number.
fn whole(what: &str, x: f64) -> Result<u64> {
    if x.is_finite() && x.fract() == 0.0 && (0.0..=MAX_SAFE_F64).contains(&x) {
        // Integral and within 2^53: exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(x as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a non-negative integer up to 2^53 - 1, got {x}"
        )))
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
            "reply value must be a safe integer, got {value}"
        )))
    }
}

fn node_id(node: f64) -> Result<u16> {
    let node = whole("node", node)?;
    u16::try_from(node).map_err(|_| invalid(format!("node {node} is out of range")))
}

/// A deadline as a JavaScript number (`-1`: none). Times stay below 2^53 (the
/// core refuses later ones), so the conversion is exact.
#[allow(clippy::cast_precision_loss)]
fn deadline(t: Option<u64>) -> f64 {
    t.map_or(-1.0, |t| t as f64)
}

/// A duration in ms as a JavaScript number. Durations the machines report are
/// at most a TTL, far below 2^53, so the conversion is exact.
#[allow(clippy::cast_precision_loss)]
fn millis(ms: u64) -> f64 {
    ms as f64
}

#[napi]
impl NativeMachine {
    /// Builds machine `machine` from `config` and `init` (JSON text of the
    /// vectors' snake_case objects). Throws `INVALID_INPUT` for values that do
    /// not convert, or the core's configuration error code.
    #[napi(constructor, catch_unwind)]
    pub fn new(machine: String, config_json: String, init_json: String) -> Result<Self> {
        let config = Config::parse(&machine, &config_json)?;
        Ok(NativeMachine {
            name: config.name(),
            inner: config.build(&init_json, None)?,
        })
    }

    /// The machine's name.
    #[napi(getter)]
    pub fn machine(&self) -> &'static str {
        self.name
    }

    /// Applies one input (JSON text) and drains every output: a JSON array of
    /// outputs, or `null` when there are none. On error (the core's usage code,
    /// or `INVALID_INPUT`) the machine is unchanged and emits nothing.
    #[napi(catch_unwind)]
    pub fn step_json(&mut self, input_json: String) -> Result<Option<String>> {
        self.inner.handle_json(&input_json)?;
        self.inner.drain_json()
    }

    /// The host's fast path for the commonest Redlock input: an integer reply
    /// (`{type: "reply", now, req, node, result: {type: "int", value}}`), then
    /// drains like [`NativeMachine::step_json`].
    #[napi(catch_unwind)]
    pub fn reply_int(
        &mut self,
        now: f64,
        req: f64,
        node: f64,
        value: f64,
    ) -> Result<Option<String>> {
        let (now, req, node) = (whole("now", now)?, whole("req", req)?, node_id(node)?);
        self.inner.reply_int(now, req, node, int_value(value)?)?;
        self.inner.drain_json()
    }

    /// The host's drive-loop form of [`NativeMachine::step_json`]: one call that
    /// also reports the next timeout. Returns the timeout alone as a number
    /// (`-1`: no timer) when the input produced no output, else the outputs in
    /// the compact form `[timeout_or_null, ...]`: for Redlock `[timeout, tables,
    /// item...]` (an `eval` command is `[req, node, script, keys_index,
    /// args_index]` into `tables`); for etcd machines `[timeout, item...]` with
    /// each command as its JSON-gateway request `{req, path, body, watch}`,
    /// `cancel_watch` as `{cancel: req}`; for the others `[timeout, output...]`
    /// with the vocabulary objects.
    #[napi(catch_unwind)]
    pub fn drive_json(&mut self, input_json: String) -> Result<Either<f64, String>> {
        self.inner.handle_json(&input_json)?;
        self.timed()
    }

    /// [`NativeMachine::drive_json`] for a `timeout` input at `now`.
    #[napi(catch_unwind)]
    pub fn drive_timeout(&mut self, now: f64) -> Result<Either<f64, String>> {
        self.inner.handle_timeout(whole("now", now)?)?;
        self.timed()
    }

    /// [`NativeMachine::drive_json`] for an integer reply (see [`NativeMachine::reply_int`]).
    #[napi(catch_unwind)]
    pub fn drive_reply_int(
        &mut self,
        now: f64,
        req: f64,
        node: f64,
        value: f64,
    ) -> Result<Either<f64, String>> {
        let (now, req, node) = (whole("now", now)?, whole("req", req)?, node_id(node)?);
        self.inner.reply_int(now, req, node, int_value(value)?)?;
        self.timed()
    }

    /// [`NativeMachine::drive_json`] without an input: the outputs queued at
    /// construction.
    #[napi(catch_unwind)]
    pub fn drive_drain(&mut self) -> Result<Either<f64, String>> {
        self.timed()
    }

    /// etcd machines: delivers the JSON-gateway answer to request `req` (a
    /// response body, any HTTP status; or, with `line`, one line of a watch
    /// stream), decoded by the core's codec against the command it answers,
    /// then drains like [`NativeMachine::drive_json`]. Returns `null` when a
    /// watch line does not answer the watch yet (nothing was applied).
    #[napi(catch_unwind)]
    pub fn drive_gateway(
        &mut self,
        now: f64,
        req: f64,
        body: Buffer,
        line: bool,
    ) -> Result<Option<Either<f64, String>>> {
        let (now, req) = (whole("now", now)?, whole("req", req)?);
        if !self.inner.gateway_reply(now, req, body.as_ref(), line)? {
            return Ok(None);
        }
        self.timed().map(Some)
    }

    /// etcd machines: request `req` got no answer from the transport (`kind`:
    /// `timeout`, `connection`, `server`, `lease_not_found` or `protocol`),
    /// then drains like [`NativeMachine::drive_json`].
    #[napi(catch_unwind)]
    pub fn drive_gateway_failure(
        &mut self,
        now: f64,
        req: f64,
        kind: String,
        message: String,
    ) -> Result<Either<f64, String>> {
        let (now, req) = (whole("now", now)?, whole("req", req)?);
        self.inner.gateway_failure(now, req, &kind, &message)?;
        self.timed()
    }

    fn timed(&mut self) -> Result<Either<f64, String>> {
        let timeout = self.inner.poll_timeout();
        match self.inner.drain_compact(timeout)? {
            Some(text) => Ok(Either::B(text)),
            None => Ok(Either::A(deadline(timeout))),
        }
    }

    /// The next output as JSON text, or `null` once drained.
    #[napi(catch_unwind)]
    pub fn poll_output_json(&mut self) -> Result<Option<String>> {
        self.inner.poll_output_json()
    }

    /// Every queued output as a JSON array, or `null` when there are none.
    #[napi(catch_unwind)]
    pub fn drain_json(&mut self) -> Result<Option<String>> {
        self.inner.drain_json()
    }

    /// When the host should deliver the next `timeout` input (ms on its
    /// monotonic clock), or `null` when no timer is needed.
    #[napi(catch_unwind)]
    pub fn poll_timeout(&self) -> Option<Either<f64, BigInt>> {
        self.inner.poll_timeout().map(|t| {
            if t <= 9_007_199_254_740_991 {
                // Below 2^53: exact.
                #[allow(clippy::cast_precision_loss)]
                Either::A(t as f64)
            } else {
                Either::B(BigInt::from(t))
            }
        })
    }

    /// Milliseconds of validity left at `now` (zero unless held), as the core
    /// computes it. Throws `INVALID_INPUT` for a machine without a validity
    /// (PostgreSQL advisory lock, etcd observer).
    #[napi(catch_unwind)]
    pub fn remaining(&self, now: f64) -> Result<f64> {
        self.inner.remaining(whole("now", now)?).map(millis)
    }

    /// The machine's state name (`"acquiring"`, `"held"`, ...).
    #[napi(getter)]
    pub fn state(&self) -> &'static str {
        self.inner.state()
    }

    /// The getters this machine has besides `state` (`["lease"]` for Redlock,
    /// `["lock"]` or `["leader"]` for the others).
    #[napi(getter)]
    pub fn views(&self) -> Vec<&'static str> {
        self.inner.views().to_vec()
    }

    /// The getter named `key` (one of `views`) as JSON text.
    #[napi(catch_unwind)]
    pub fn view_json(&self, key: String) -> Result<String> {
        self.inner.view_json(&key)
    }
}

/// A machine's configuration, validated once, from which the host builds one
/// machine per operation.
#[napi]
pub struct MachineTemplate {
    config: Config,
}

#[napi]
impl MachineTemplate {
    /// Validates `config` (JSON text) for machine `machine`: throws
    /// `INVALID_INPUT` or the core's configuration error code (ZooKeeper
    /// configurations are validated when a machine is built: they depend on
    /// the session timeout).
    #[napi(constructor, catch_unwind)]
    pub fn new(machine: String, config_json: String) -> Result<Self> {
        Ok(MachineTemplate {
            config: Config::parse(&machine, &config_json)?,
        })
    }

    /// Builds a machine from `init` (JSON text); `seed` (decimal digits)
    /// replaces the configuration's jitter seed when given.
    #[napi(catch_unwind)]
    pub fn build(&self, init_json: String, seed: Option<String>) -> Result<NativeMachine> {
        Ok(NativeMachine {
            name: self.config.name(),
            inner: self.config.build(&init_json, parse_seed(seed)?)?,
        })
    }
}

fn parse_seed(seed: Option<String>) -> Result<Option<u64>> {
    seed.map(|s| {
        s.parse::<u64>()
            .map_err(|_| invalid(format!("seed must be a 64-bit decimal, got {s:?}")))
    })
    .transpose()
}

/// Names of the machines this build exposes.
#[napi(catch_unwind)]
pub fn machine_names() -> Vec<&'static str> {
    machines::NAMES.to_vec()
}

/// Checks a machine's `config` (JSON text) without building a machine: throws
/// `INVALID_INPUT` or the core's configuration error code.
#[napi(catch_unwind)]
pub fn check_config(machine: String, config_json: String) -> Result<()> {
    Config::parse(&machine, &config_json).map(drop)
}

/// A lock value from 16 bytes of the host's CSPRNG (a version 4 UUID string), as
/// `fencelock_core::lock_value_from_random` formats it.
#[napi(catch_unwind)]
pub fn lock_value_from_random(bytes: Buffer) -> Result<String> {
    let bytes: [u8; 16] = bytes
        .as_ref()
        .try_into()
        .map_err(|_| invalid(format!("need exactly 16 random bytes, got {}", bytes.len())))?;
    Ok(fencelock_core::lock_value_from_random(bytes))
}

/// A Lua script as the core defines it.
#[napi(object)]
pub struct ScriptInfo {
    /// `acquire`, `extend`, `release`, `fence` or `fenced_set`.
    pub name: String,
    /// Lowercase hex SHA1 of `source`, for `EVALSHA`.
    pub sha1: String,
    /// The Lua source, for the `EVAL` fallback.
    pub source: String,
}

/// The Redlock scripts, byte for byte as the core defines them.
#[napi(catch_unwind)]
pub fn redlock_scripts() -> Vec<ScriptInfo> {
    Script::ALL
        .iter()
        .map(|s| ScriptInfo {
            name: s.name().to_owned(),
            sha1: s.sha1().to_owned(),
            source: s.source().to_owned(),
        })
        .collect()
}

/// The Redis fenced compare-and-set script (`KEYS`: highest-token key, data key;
/// `ARGV`: token, value; reply: the highest admitted token after the call).
#[napi(catch_unwind)]
pub fn redis_fenced_set() -> ScriptInfo {
    ScriptInfo {
        name: "fenced_set".to_owned(),
        sha1: REDIS_FENCED_SET_SHA1.to_owned(),
        source: REDIS_FENCED_SET.to_owned(),
    }
}

/// The fenced SQL `UPDATE` for `table` (PostgreSQL placeholders): bind the new
/// column values, then the token, then the row key. Throws `INVALID_IDENTIFIER`
/// for an identifier that is not plain.
#[napi(catch_unwind)]
pub fn fenced_update_sql(
    table: String,
    columns: Vec<String>,
    fence_column: String,
    key_column: String,
) -> Result<String> {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    fencelock_core::fenced_update_sql(&table, &columns, &fence_column, &key_column)
        .map_err(|e| fault(e.code(), e))
}

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
#[napi]
pub struct FenceGuard {
    inner: CoreFenceGuard,
}

#[napi]
impl FenceGuard {
    /// A guard that has admitted nothing, or that resumes from a persisted
    /// highest token (decimal).
    #[napi(constructor, catch_unwind)]
    pub fn new(highest: Option<String>) -> Result<Self> {
        let inner = match highest {
            Some(h) => CoreFenceGuard::resume(token_of("highest", &h)?),
            None => CoreFenceGuard::new(),
        };
        Ok(FenceGuard { inner })
    }

    /// Admits `token` (decimal) and records it, returning `null`; or refuses it
    /// as stale, returning the highest token admitted so far (decimal).
    #[napi(catch_unwind)]
    pub fn admit(&mut self, token: String) -> Result<Option<String>> {
        Ok(match self.inner.admit(token_of("token", &token)?) {
            Admission::RejectedStale { highest } => Some(highest.0.to_string()),
            _ => None,
        })
    }

    /// Highest token admitted so far (decimal), or `null`.
    #[napi(getter)]
    pub fn highest(&self) -> Option<String> {
        self.inner.highest().map(|t| t.0.to_string())
    }
}
