//! Every core machine the module exposes, keyed by the name vectors use in their
//! `machine` field. A machine is built from its JSON `config` and `init` and
//! driven with JSON inputs; outputs, state and getters come back as JSON text.
//!
//! Adding a machine: implement [`CoreMachine`] for it and add one [`Entry`] to
//! [`MACHINES`]. Nothing else in the module (nor the JavaScript layer's generic
//! machine wrapper and vector runner) knows machine names.

use std::fmt::Write as _;
use std::sync::Arc;

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{self, EtcdConfig};
use fencelock_core::redlock::{
    AcquireArgs, Command, Input, NodeReply, Output, Redlock, RedlockConfig,
};
use fencelock_core::wire::etcd_gateway;
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use fencelock_core::{ConfigError, Machine, Millis, NodeId, RequestId, UsageError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::fault::{fault, invalid, Code, Result, INTERNAL};
use crate::json;

/// A core machine whose inputs and outputs have a JSON form.
pub trait CoreMachine: Machine
where
    Self::Input: DeserializeOwned,
    Self::Output: Serialize,
{
    /// The state's name as vectors spell it.
    fn state_name(&self) -> &'static str;
    /// Getters the vectors of this machine may check besides `outputs`,
    /// `timeout`, `state` and `error` (`lease` for Redlock; `lock` / `leader`
    /// for the others).
    const VIEWS: &'static [&'static str];
    /// The getter named `key` (one of [`CoreMachine::VIEWS`]) as JSON text.
    fn view_text(&self, key: &str) -> Result<String>;
    /// Milliseconds of validity left at `now`, for machines whose lock has a
    /// validity (`None` for the others).
    fn remaining_at(&self, _now: Millis) -> Option<u64> {
        None
    }
}

impl CoreMachine for Redlock {
    const VIEWS: &'static [&'static str] = &["lease"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view_text(&self, _key: &str) -> Result<String> {
        json::to_text(&self.lease())
    }
    fn remaining_at(&self, now: Millis) -> Option<u64> {
        Some(self.remaining(now))
    }
}

/// `lock_machine!(T)`, or `lock_machine!(T, remaining)` for a machine whose
/// lock has a validity (the core's `remaining(now)`).
macro_rules! lock_machine {
    ($t:ty $(, $remaining:ident)?) => {
        impl CoreMachine for $t {
            const VIEWS: &'static [&'static str] = &["lock"];
            fn state_name(&self) -> &'static str {
                self.state().name()
            }
            fn view_text(&self, _key: &str) -> Result<String> {
                json::to_text(&self.lock())
            }
            $(
                fn remaining_at(&self, now: Millis) -> Option<u64> {
                    Some(self.$remaining(now))
                }
            )?
        }
    };
}
lock_machine!(etcd::Mutex, remaining);
lock_machine!(etcd::Election, remaining);
lock_machine!(zookeeper::Lock, remaining);
lock_machine!(zookeeper::Election, remaining);
lock_machine!(advisory::Lock);

impl CoreMachine for etcd::Observer {
    const VIEWS: &'static [&'static str] = &["leader"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view_text(&self, _key: &str) -> Result<String> {
        json::to_text(&self.leader())
    }
}

/// A machine behind JSON text: what the native class holds.
pub trait Hosted {
    /// Applies one input (JSON text); on error the machine is unchanged.
    fn handle_json(&mut self, input: &str) -> Result<()>;
    /// Applies a timeout input.
    fn handle_timeout(&mut self, now: u64) -> Result<()>;
    /// Applies an integer reply from a Redis node (Redlock only).
    fn reply_int(&mut self, _now: u64, _req: u64, _node: u16, _value: i64) -> Result<()> {
        Err(invalid("only a redlock machine takes integer replies"))
    }
    /// The next output as JSON text, if any.
    fn poll_output_json(&mut self) -> Result<Option<String>>;
    /// Every queued output as a JSON array, or `None` when there are none.
    fn drain_json(&mut self) -> Result<Option<String>>;
    /// Every queued output in the drive loop's compact form, or `None` when
    /// there are none (see [`NativeMachine::drive_json`](crate::NativeMachine)).
    fn drain_compact(&mut self, timeout: Option<u64>) -> Result<Option<String>>;
    /// When the host should deliver the next timeout.
    fn poll_timeout(&self) -> Option<u64>;
    /// The state's name.
    fn state(&self) -> &'static str;
    /// The getters this machine has (see [`CoreMachine::VIEWS`]).
    fn views(&self) -> &'static [&'static str];
    /// The getter named `key` as JSON text.
    fn view_json(&self, key: &str) -> Result<String>;
    /// Milliseconds of validity left at `now` (machines whose lock has one).
    fn remaining(&self, now: u64) -> Result<u64>;
    /// Delivers an etcd JSON-gateway answer (a body, or one watch line) to
    /// request `req`; `false` when a watch line does not answer yet.
    fn gateway_reply(&mut self, _now: u64, _req: u64, _body: &[u8], _line: bool) -> Result<bool> {
        Err(invalid("only etcd machines have an etcd gateway"))
    }
    /// Delivers a transport failure for etcd request `req`.
    fn gateway_failure(&mut self, _now: u64, _req: u64, _kind: &str, _message: &str) -> Result<()> {
        Err(invalid("only etcd machines have an etcd gateway"))
    }
}

fn parse_input<M>(text: &str) -> Result<M::Input>
where
    M: Machine,
    M::Input: DeserializeOwned,
{
    parse("input", text)
}

fn drain_all<M: Machine>(m: &mut M) -> Vec<M::Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

/// `[timeout` for a compact text.
fn write_timeout(text: &mut String, timeout: Option<u64>) {
    match timeout {
        Some(t) => {
            let _ = write!(text, "[{t}");
        }
        None => text.push_str("[null"),
    }
}

/// Implements the generic part of [`Hosted`] for a [`CoreMachine`] reached
/// through `$field` (the machine itself, or a wrapper's field).
macro_rules! hosted_common {
    ($m:ident => $get:expr, $get_mut:expr) => {
        fn handle_json(&mut self, input: &str) -> Result<()> {
            let input = parse_input::<M>(input)?;
            let $m = self;
            Machine::handle_input($get_mut, input).map_err(usage)
        }

        fn poll_output_json(&mut self) -> Result<Option<String>> {
            let $m = self;
            Machine::poll_output($get_mut)
                .map(|o| json::to_text(&o))
                .transpose()
        }

        fn drain_json(&mut self) -> Result<Option<String>> {
            let $m = self;
            let outputs = drain_all($get_mut);
            if outputs.is_empty() {
                return Ok(None);
            }
            json::to_text(&outputs).map(Some)
        }

        fn poll_timeout(&self) -> Option<u64> {
            let $m = self;
            Machine::poll_timeout($get).map(|t| t.0)
        }

        fn state(&self) -> &'static str {
            let $m = self;
            $get.state_name()
        }

        fn views(&self) -> &'static [&'static str] {
            M::VIEWS
        }

        fn remaining(&self, now: u64) -> Result<u64> {
            let $m = self;
            $get.remaining_at(Millis(now))
                .ok_or_else(|| invalid("this machine's lock has no validity (no remaining)"))
        }

        fn view_json(&self, key: &str) -> Result<String> {
            if M::VIEWS.contains(&key) {
                let $m = self;
                $get.view_text(key)
            } else {
                Err(invalid(format!(
                    "no getter {key:?}; this machine has {}",
                    M::VIEWS.join(", ")
                )))
            }
        }
    };
}

/// A machine whose host runs its commands from their vocabulary objects
/// (ZooKeeper, PostgreSQL, and the low-level Redlock machine).
pub struct Plain<M>(pub M);

/// Machines with a timeout input of the usual shape.
pub trait TimeoutInput: Machine {
    /// `{type: "timeout", now}`.
    fn timeout(now: u64) -> Self::Input;
}

impl TimeoutInput for Redlock {
    fn timeout(now: u64) -> Input {
        Input::Timeout { now: Millis(now) }
    }
}
impl TimeoutInput for zookeeper::Lock {
    fn timeout(now: u64) -> zookeeper::Input {
        zookeeper::Input::Timeout { now: Millis(now) }
    }
}
impl TimeoutInput for zookeeper::Election {
    fn timeout(now: u64) -> zookeeper::Input {
        zookeeper::Input::Timeout { now: Millis(now) }
    }
}
impl TimeoutInput for advisory::Lock {
    fn timeout(now: u64) -> advisory::Input {
        advisory::Input::Timeout { now: Millis(now) }
    }
}
macro_rules! etcd_timeout {
    ($t:ty) => {
        impl TimeoutInput for $t {
            fn timeout(now: u64) -> etcd::Input {
                etcd::Input::Timeout { now: Millis(now) }
            }
        }
    };
}
etcd_timeout!(etcd::Mutex);
etcd_timeout!(etcd::Election);
etcd_timeout!(etcd::Observer);

impl<M> Hosted for Plain<M>
where
    M: CoreMachine + TimeoutInput + 'static,
    M::Input: DeserializeOwned,
    M::Output: Serialize + 'static,
{
    hosted_common!(m => &m.0, &mut m.0);

    fn handle_timeout(&mut self, now: u64) -> Result<()> {
        self.0.handle_input(M::timeout(now)).map_err(usage)
    }

    fn reply_int(&mut self, now: u64, req: u64, node: u16, value: i64) -> Result<()> {
        let any: &mut dyn std::any::Any = &mut self.0;
        match any.downcast_mut::<Redlock>() {
            Some(redlock) => redlock
                .handle_input(Input::Reply {
                    now: Millis(now),
                    req: RequestId(req),
                    node: Some(NodeId(node)),
                    result: NodeReply::Int { value },
                })
                .map_err(usage),
            None => Err(invalid("only a redlock machine takes integer replies")),
        }
    }

    fn drain_compact(&mut self, timeout: Option<u64>) -> Result<Option<String>> {
        let any: &mut dyn std::any::Any = &mut self.0;
        if let Some(redlock) = any.downcast_mut::<Redlock>() {
            let outputs = drain_all(redlock);
            if outputs.is_empty() {
                return Ok(None);
            }
            return write_redlock_compact(timeout, &outputs).map(Some);
        }
        let Some(first) = self.0.poll_output() else {
            return Ok(None);
        };
        let mut text = String::with_capacity(128);
        write_timeout(&mut text, timeout);
        let mut next = Some(first);
        while let Some(output) = next {
            text.push(',');
            text.push_str(&json::to_text(&output)?);
            next = self.0.poll_output();
        }
        text.push(']');
        Ok(Some(text))
    }
}

/// The Redlock drive loop's compact form of a batch of outputs: one JSON array
/// `[timeout, tables, item...]`. `tables` lists the distinct `keys` / `args`
/// arrays of the batch's `eval` commands; an `eval` command is the array `[req,
/// node, script, keys_index, args_index]`; every other output is its usual JSON
/// object.
pub fn write_redlock_compact(timeout: Option<u64>, outputs: &[Output]) -> Result<String> {
    let mut tables: Vec<&Arc<[String]>> = Vec::new();
    let mut items = String::with_capacity(64 * outputs.len());
    for output in outputs {
        items.push(',');
        match output {
            Output::Command(Command::Eval(eval)) => {
                let (k, a) = (
                    table_index(&mut tables, &eval.keys),
                    table_index(&mut tables, &eval.args),
                );
                let _ = write!(
                    items,
                    "[{},{},\"{}\",{k},{a}]",
                    eval.req.0,
                    eval.node.0,
                    eval.script.name()
                );
            }
            other => items.push_str(&json::to_text(other)?),
        }
    }
    let mut text = String::with_capacity(items.len() + 128);
    write_timeout(&mut text, timeout);
    text.push(',');
    text.push_str(&json::to_text(&tables)?);
    text.push_str(&items);
    text.push(']');
    Ok(text)
}

fn table_index<'a>(tables: &mut Vec<&'a Arc<[String]>>, table: &'a Arc<[String]>) -> usize {
    match tables
        .iter()
        .position(|t| Arc::ptr_eq(t, table) || ***t == **table)
    {
        Some(i) => i,
        None => {
            tables.push(table);
            tables.len() - 1
        }
    }
}

/// An etcd machine with the commands it has sent through the JSON-gateway
/// codec and not yet had answered, so their response bodies can be decoded
/// (the codec needs the command to read its response).
pub struct Gateway<M> {
    machine: M,
    pending: Vec<etcd::Command>,
}

impl<M> Gateway<M> {
    /// Wraps a machine.
    pub fn new(machine: M) -> Self {
        Gateway {
            machine,
            pending: Vec::new(),
        }
    }
}

impl<M> Hosted for Gateway<M>
where
    M: CoreMachine<Input = etcd::Input, Output = etcd::Output> + TimeoutInput,
{
    hosted_common!(m => &m.machine, &mut m.machine);

    fn handle_timeout(&mut self, now: u64) -> Result<()> {
        self.machine.handle_input(M::timeout(now)).map_err(usage)
    }

    /// `[timeout, item...]`: a command is `{"req", "path", "body", "watch"}`
    /// (its gateway request, encoded by the core's codec and remembered until
    /// answered), `cancel_watch` is `{"cancel": req}`, an event is `{"event":
    /// ...}`.
    fn drain_compact(&mut self, timeout: Option<u64>) -> Result<Option<String>> {
        let Some(first) = self.machine.poll_output() else {
            return Ok(None);
        };
        let mut text = String::with_capacity(256);
        write_timeout(&mut text, timeout);
        let mut next = Some(first);
        while let Some(output) = next {
            text.push(',');
            match output {
                etcd::Output::Command(etcd::Command::CancelWatch { watch }) => {
                    self.pending.retain(|c| c.req() != Some(watch));
                    let _ = write!(text, "{{\"cancel\":{}}}", watch.0);
                }
                etcd::Output::Command(command) => {
                    let (Some(req), Some(request)) =
                        (command.req(), etcd_gateway::encode(&command))
                    else {
                        return Err(fault(INTERNAL, "a command without a gateway request"));
                    };
                    let watch = matches!(command, etcd::Command::Watch { .. });
                    let _ = write!(
                        text,
                        "{{\"req\":{},\"path\":\"{}\",\"watch\":{watch},\"body\":",
                        req.0, request.path
                    );
                    text.push_str(&json::to_text(&request.body)?);
                    text.push('}');
                    self.pending.push(command);
                }
                other => text.push_str(&json::to_text(&other)?),
            }
            next = self.machine.poll_output();
        }
        text.push(']');
        Ok(Some(text))
    }

    fn gateway_reply(&mut self, now: u64, req: u64, body: &[u8], line: bool) -> Result<bool> {
        let index = self
            .pending
            .iter()
            .position(|c| c.req() == Some(RequestId(req)));
        let result = match index {
            Some(_) if line => match etcd_gateway::watch_reply(body) {
                Some(reply) => reply,
                None => return Ok(false),
            },
            Some(i) => etcd_gateway::reply(&self.pending[i], body),
            // Not a request this wrapper sent (or already answered): the machine
            // tells unknown from duplicate and late replies itself.
            None => etcd::Reply::error(
                etcd::ErrorKind::Protocol,
                "reply for a request the host does not know",
            ),
        };
        self.machine
            .handle_input(etcd::Input::Reply {
                now: Millis(now),
                req: RequestId(req),
                result,
            })
            .map_err(usage)?;
        if let Some(i) = index {
            self.pending.swap_remove(i);
        }
        Ok(true)
    }

    fn gateway_failure(&mut self, now: u64, req: u64, kind: &str, message: &str) -> Result<()> {
        let kind = match kind {
            "timeout" => etcd::ErrorKind::Timeout,
            "connection" => etcd::ErrorKind::Connection,
            "server" => etcd::ErrorKind::Server,
            "lease_not_found" => etcd::ErrorKind::LeaseNotFound,
            "protocol" => etcd::ErrorKind::Protocol,
            other => return Err(invalid(format!("unknown error kind {other:?}"))),
        };
        self.machine
            .handle_input(etcd::Input::Reply {
                now: Millis(now),
                req: RequestId(req),
                result: etcd::Reply::error(kind, message),
            })
            .map_err(usage)?;
        self.pending.retain(|c| c.req() != Some(RequestId(req)));
        Ok(())
    }
}

/// A machine's configuration, validated as far as it can be without `init`,
/// from which the host builds one machine per operation.
#[derive(Clone, Debug)]
pub enum Config {
    /// `redlock`.
    Redlock(RedlockConfig),
    /// `etcd_mutex`, `etcd_election`, `etcd_observer` (the name says which).
    Etcd(&'static str, EtcdConfig),
    /// `zookeeper_lock`, `zookeeper_election` (validated at build: the session
    /// timeout comes with `init`).
    ZooKeeper(&'static str, ZooKeeperConfig),
    /// `advisory_lock`.
    Advisory(AdvisoryConfig),
}

/// Names of the machines this build exposes.
pub const NAMES: [&str; 7] = [
    "redlock",
    "etcd_mutex",
    "etcd_election",
    "etcd_observer",
    "zookeeper_lock",
    "zookeeper_election",
    "advisory_lock",
];

impl Config {
    /// Parses `config` (JSON text) for machine `name` and validates what can be.
    pub fn parse(name: &str, text: &str) -> Result<Config> {
        let name = NAMES.iter().copied().find(|n| *n == name).ok_or_else(|| {
            invalid(format!(
                "unknown machine {name:?}; this build has {}",
                NAMES.join(", ")
            ))
        })?;
        Ok(match name {
            "redlock" => {
                let cfg: RedlockConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Config::Redlock(cfg)
            }
            "zookeeper_lock" | "zookeeper_election" => {
                Config::ZooKeeper(name, parse("config", text)?)
            }
            "advisory_lock" => {
                let cfg: AdvisoryConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Config::Advisory(cfg)
            }
            _ => {
                let cfg: EtcdConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Config::Etcd(name, cfg)
            }
        })
    }

    /// The machine's vector name.
    pub fn name(&self) -> &'static str {
        match self {
            Config::Redlock(_) => "redlock",
            Config::Etcd(name, _) | Config::ZooKeeper(name, _) => name,
            Config::Advisory(_) => "advisory_lock",
        }
    }

    /// Builds a machine from `init` (JSON text), with `seed` as the jitter seed
    /// when given. etcd machines come wrapped for the JSON-gateway codec.
    pub fn build(&self, init: &str, seed: Option<u64>) -> Result<Box<dyn Hosted>> {
        fn seeded<C: Clone>(cfg: &C, seed: Option<u64>, set: fn(&mut C, u64)) -> C {
            let mut c = cfg.clone();
            if let Some(seed) = seed {
                set(&mut c, seed);
            }
            c
        }
        Ok(match self {
            Config::Redlock(cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                let args: AcquireArgs = parse("init", init)?;
                Box::new(Plain(Redlock::new(&cfg, args).map_err(config)?))
            }
            Config::ZooKeeper(name, cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                if *name == "zookeeper_lock" {
                    let args: zookeeper::LockArgs = parse("init", init)?;
                    Box::new(Plain(zookeeper::Lock::new(&cfg, args).map_err(config)?))
                } else {
                    let args: zookeeper::ElectionArgs = parse("init", init)?;
                    Box::new(Plain(zookeeper::Election::new(&cfg, args).map_err(config)?))
                }
            }
            Config::Advisory(cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                let args: advisory::LockArgs = parse("init", init)?;
                Box::new(Plain(advisory::Lock::new(&cfg, args).map_err(config)?))
            }
            Config::Etcd(name, cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                match *name {
                    "etcd_mutex" => Box::new(Gateway::new(
                        etcd::Mutex::new(&cfg, parse("init", init)?).map_err(config)?,
                    )),
                    "etcd_election" => Box::new(Gateway::new(
                        etcd::Election::new(&cfg, parse("init", init)?).map_err(config)?,
                    )),
                    _ => Box::new(Gateway::new(
                        etcd::Observer::new(&cfg, parse("init", init)?).map_err(config)?,
                    )),
                }
            }
        })
    }
}

/// Deserializes JSON text into `T`; errors name the offending field
/// (`config.retry.base_delay: invalid type ...`).
pub fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(format!("{what}: {inner}"))
        } else {
            invalid(format!("{what}.{path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| invalid(format!("{what}: {e}")))?;
    Ok(value)
}

/// A core usage error as a thrown error with its stable code.
pub fn usage(e: UsageError) -> napi::Error<Code> {
    fault(e.code(), e)
}

/// A core configuration error as a thrown error with its stable code.
pub fn config(e: ConfigError) -> napi::Error<Code> {
    fault(e.code(), e)
}
