//! Every core machine the module exposes, keyed by the name vectors use in their
//! `machine` field, behind one JSON-text interface ([`Hosted`]).
//!
//! Adding a machine: one [`Kind`] variant, its arm in [`Kind::build`], and its
//! getter in [`Subject`]. Nothing in the JavaScript layer knows machine names
//! beyond the classes it exports.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::sync::Arc;

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{
    self, Command as EtcdCommand, ElectionArgs, EtcdConfig, MutexArgs, ObserveArgs,
    Output as EtcdOutput,
};
use fencelock_core::json::{write_str, write_u64, FromJson, ToJson};
use fencelock_core::redlock::{
    AcquireArgs, Command as RedlockCommand, Input as RedlockInput, NodeReply,
    Output as RedlockOutput, Redlock, RedlockConfig,
};
use fencelock_core::wire::etcd_gateway;
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use fencelock_core::{Machine, Millis, NodeId, RequestId};

use crate::fault::{config, invalid, usage, Fault, Result, INTERNAL};
use crate::json::{parse, to_text};

/// The machines this build exposes, by vector name.
pub const NAMES: [&str; 7] = [
    "redlock",
    "etcd_mutex",
    "etcd_election",
    "etcd_observer",
    "zookeeper_lock",
    "zookeeper_election",
    "advisory_lock",
];

/// A machine's validated configuration.
#[derive(Clone, Debug)]
pub enum Config {
    /// `redlock`.
    Redlock(RedlockConfig),
    /// `etcd_mutex`, `etcd_election`, `etcd_observer` (the name says which).
    Etcd(&'static str, EtcdConfig),
    /// `zookeeper_lock`, `zookeeper_election`.
    ZooKeeper(&'static str, ZooKeeperConfig),
    /// `advisory_lock` (PostgreSQL advisory locks).
    Advisory(AdvisoryConfig),
}

impl Config {
    /// Parses and validates `config` (JSON text) for machine `name`.
    pub fn parse(name: &str, text: &str) -> Result<Config> {
        let name = NAMES.iter().copied().find(|n| *n == name).ok_or_else(|| {
            invalid(format!(
                "unknown machine {name:?}; this build has {}",
                NAMES.join(", ")
            ))
        })?;
        match name {
            "redlock" => {
                let cfg: RedlockConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Ok(Config::Redlock(cfg))
            }
            "zookeeper_lock" | "zookeeper_election" => {
                // Validated with the session's timeout, which comes with `init`.
                let cfg: ZooKeeperConfig = parse("config", text)?;
                Ok(Config::ZooKeeper(name, cfg))
            }
            "advisory_lock" => {
                let cfg: AdvisoryConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Ok(Config::Advisory(cfg))
            }
            _ => {
                let cfg: EtcdConfig = parse("config", text)?;
                cfg.validate().map_err(config)?;
                Ok(Config::Etcd(name, cfg))
            }
        }
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
    /// when given.
    pub fn build(&self, init: &str, seed: Option<u64>) -> Result<Kind> {
        /// `cfg`, or a copy of it with `seed` as its jitter seed when given.
        fn seeded<C: Clone>(cfg: &C, seed: Option<u64>, set: fn(&mut C, u64)) -> Cow<'_, C> {
            match seed {
                Some(seed) => {
                    let mut c = cfg.clone();
                    set(&mut c, seed);
                    Cow::Owned(c)
                }
                None => Cow::Borrowed(cfg),
            }
        }
        match self {
            Config::Redlock(cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                let args: AcquireArgs = parse("init", init)?;
                Ok(Kind::Redlock(Redlock::new(&cfg, args).map_err(config)?))
            }
            Config::ZooKeeper(name, cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                Ok(if *name == "zookeeper_lock" {
                    Kind::ZkLock(
                        zookeeper::Lock::new(&cfg, parse::<zookeeper::LockArgs>("init", init)?)
                            .map_err(config)?,
                    )
                } else {
                    Kind::ZkElection(
                        zookeeper::Election::new(
                            &cfg,
                            parse::<zookeeper::ElectionArgs>("init", init)?,
                        )
                        .map_err(config)?,
                    )
                })
            }
            Config::Advisory(cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                Ok(Kind::Advisory(
                    advisory::Lock::new(&cfg, parse::<advisory::LockArgs>("init", init)?)
                        .map_err(config)?,
                ))
            }
            Config::Etcd(name, cfg) => {
                let cfg = seeded(cfg, seed, |c, s| c.rng_seed = s);
                Ok(match *name {
                    "etcd_mutex" => Kind::Mutex(Gateway::new(
                        etcd::Mutex::new(&cfg, parse::<MutexArgs>("init", init)?)
                            .map_err(config)?,
                    )),
                    "etcd_election" => Kind::Election(Gateway::new(
                        etcd::Election::new(&cfg, parse::<ElectionArgs>("init", init)?)
                            .map_err(config)?,
                    )),
                    _ => Kind::Observer(Gateway::new(
                        etcd::Observer::new(&cfg, parse::<ObserveArgs>("init", init)?)
                            .map_err(config)?,
                    )),
                })
            }
        }
    }
}

/// An etcd machine with the commands it has sent through the JSON gateway and
/// not yet had answered, so their response bodies can be decoded.
#[derive(Debug)]
pub struct Gateway<M> {
    machine: M,
    pending: Vec<EtcdCommand>,
}

impl<M> Gateway<M> {
    fn new(machine: M) -> Self {
        Gateway {
            machine,
            pending: Vec::new(),
        }
    }
}

/// One machine of any kind.
#[derive(Debug)]
pub enum Kind {
    /// `redlock`.
    Redlock(Redlock),
    /// `etcd_mutex`.
    Mutex(Gateway<etcd::Mutex>),
    /// `etcd_election`.
    Election(Gateway<etcd::Election>),
    /// `etcd_observer`.
    Observer(Gateway<etcd::Observer>),
    /// `zookeeper_lock`.
    ZkLock(zookeeper::Lock),
    /// `zookeeper_election`.
    ZkElection(zookeeper::Election),
    /// `advisory_lock`.
    Advisory(advisory::Lock),
}

/// What the generic code needs from a machine beside [`Machine`].
pub trait Subject: Machine
where
    Self::Input: FromJson,
    Self::Output: ToJson,
{
    /// The state's name as vectors spell it.
    fn state_name(&self) -> &'static str;
    /// The getter vectors check (`lease`, `lock` or `leader`), as JSON text.
    fn view(&self) -> String;
    /// Which getter that is.
    const VIEW: &'static str;
}

impl Subject for Redlock {
    const VIEW: &'static str = "lease";
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self) -> String {
        to_text(&self.lease())
    }
}

macro_rules! lock_subject {
    ($machine:ty) => {
        impl Subject for $machine {
            const VIEW: &'static str = "lock";
            fn state_name(&self) -> &'static str {
                self.state().name()
            }
            fn view(&self) -> String {
                to_text(&self.lock())
            }
        }
    };
}
lock_subject!(etcd::Mutex);
lock_subject!(etcd::Election);
lock_subject!(zookeeper::Lock);
lock_subject!(zookeeper::Election);
lock_subject!(advisory::Lock);

impl Subject for etcd::Observer {
    const VIEW: &'static str = "leader";
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self) -> String {
        to_text(&self.leader())
    }
}

fn handle_json<M: Subject>(m: &mut M, text: &str) -> Result<()>
where
    M::Input: FromJson,
    M::Output: ToJson,
{
    let input: M::Input = parse("input", text)?;
    m.handle_input(input).map_err(usage)
}

fn drain_json<M: Subject>(m: &mut M) -> Option<String>
where
    M::Input: FromJson,
    M::Output: ToJson,
{
    let outputs: Vec<M::Output> = core::iter::from_fn(|| m.poll_output()).collect();
    if outputs.is_empty() {
        return None;
    }
    Some(to_text(&outputs))
}

fn poll_json<M: Subject>(m: &mut M) -> Option<String>
where
    M::Input: FromJson,
    M::Output: ToJson,
{
    m.poll_output().map(|o| to_text(&o))
}

/// Calls `$body` with `$m` bound to the machine inside any [`Kind`].
macro_rules! each {
    ($kind:expr, $m:ident => $body:expr) => {
        match $kind {
            Kind::Redlock($m) => $body,
            Kind::Mutex(g) => {
                let $m = &mut g.machine;
                $body
            }
            Kind::Election(g) => {
                let $m = &mut g.machine;
                $body
            }
            Kind::Observer(g) => {
                let $m = &mut g.machine;
                $body
            }
            Kind::ZkLock($m) => $body,
            Kind::ZkElection($m) => $body,
            Kind::Advisory($m) => $body,
        }
    };
}

/// Same as `each!`, for shared access.
macro_rules! each_ref {
    ($kind:expr, $m:ident => $body:expr) => {
        match $kind {
            Kind::Redlock($m) => $body,
            Kind::Mutex(g) => {
                let $m = &g.machine;
                $body
            }
            Kind::Election(g) => {
                let $m = &g.machine;
                $body
            }
            Kind::Observer(g) => {
                let $m = &g.machine;
                $body
            }
            Kind::ZkLock($m) => $body,
            Kind::ZkElection($m) => $body,
            Kind::Advisory($m) => $body,
        }
    };
}

impl Kind {
    /// Applies one input (JSON text); on error the machine is unchanged.
    pub fn handle_json(&mut self, text: &str) -> Result<()> {
        each!(self, m => handle_json(m, text))
    }

    /// The next output as JSON text, if any.
    pub fn poll_output_json(&mut self) -> Option<String> {
        each!(self, m => poll_json(m))
    }

    /// Every queued output as a JSON array, or `None` when there are none.
    pub fn drain_json(&mut self) -> Option<String> {
        each!(self, m => drain_json(m))
    }

    /// When the host should deliver the next timeout.
    pub fn poll_timeout(&self) -> Option<u64> {
        each_ref!(self, m => m.poll_timeout().map(|t| t.0))
    }

    /// The state's name.
    pub fn state(&self) -> &'static str {
        each_ref!(self, m => m.state_name())
    }

    /// The getter's JSON text, if `key` names this machine's getter; `None` for
    /// a getter the machine does not have.
    pub fn view(&self, key: &str) -> Option<String> {
        fn pick<M: Subject>(m: &M, key: &str) -> Option<String>
        where
            M::Input: FromJson,
            M::Output: ToJson,
        {
            (key == M::VIEW).then(|| m.view())
        }
        each_ref!(self, m => pick(m, key))
    }

    /// Milliseconds of validity left at `now` as the machine counts it: zero
    /// unless the lock is held. Only locks and elections have a validity.
    pub fn remaining(&self, now: u64) -> Result<u64> {
        let now = Millis(now);
        match self {
            Kind::Redlock(m) => Ok(m.remaining(now)),
            Kind::Mutex(g) => Ok(g.machine.remaining(now)),
            Kind::Election(g) => Ok(g.machine.remaining(now)),
            Kind::ZkLock(m) => Ok(m.remaining(now)),
            Kind::ZkElection(m) => Ok(m.remaining(now)),
            Kind::Observer(_) | Kind::Advisory(_) => {
                Err(invalid("this machine has no validity to count down"))
            }
        }
    }

    /// The host's fast path for the commonest input: an integer reply from a
    /// Redis node.
    pub fn reply_int(&mut self, now: u64, req: u64, node: u16, value: i64) -> Result<()> {
        match self {
            Kind::Redlock(m) => m
                .handle_input(RedlockInput::Reply {
                    now: Millis(now),
                    req: RequestId(req),
                    node: Some(NodeId(node)),
                    result: NodeReply::Int { value },
                })
                .map_err(usage),
            _ => Err(invalid("only a redlock machine takes integer replies")),
        }
    }

    /// Every queued output in the drive loop's compact form, or `None` when
    /// there are none.
    ///
    /// `redlock`: `[timeout, tables, item...]`: `tables` lists the distinct
    /// `keys` / `args` arrays; an `eval` command is `[req, node, script,
    /// keys_index, args_index]`; any other output is its vocabulary object.
    ///
    /// etcd machines: `[timeout, item...]`: a command is `{"req", "path",
    /// "body", "watch"}` (its JSON-gateway request, encoded by the core's
    /// codec and remembered until answered), `cancel_watch` is `{"cancel":
    /// req}`, an event is `{"event": ...}`.
    pub fn drain_compact(&mut self) -> Result<Option<String>> {
        let timeout = self.poll_timeout();
        match self {
            Kind::Redlock(m) => Ok(redlock_compact(m, timeout)),
            Kind::Mutex(g) => gateway_compact(g, timeout),
            Kind::Election(g) => gateway_compact(g, timeout),
            Kind::Observer(g) => gateway_compact(g, timeout),
            Kind::ZkLock(m) => Ok(plain_compact(m, timeout)),
            Kind::ZkElection(m) => Ok(plain_compact(m, timeout)),
            Kind::Advisory(m) => Ok(plain_compact(m, timeout)),
        }
    }

    /// Delivers the gateway's answer to request `req`: a response body (any
    /// HTTP status; etcd's errors are JSON too) or, for a watch, one stream
    /// line. Returns `false` when a watch line does not answer the watch yet
    /// (nothing was applied).
    pub fn gateway_reply(&mut self, now: u64, req: u64, body: &[u8], line: bool) -> Result<bool> {
        match self {
            Kind::Redlock(_) | Kind::ZkLock(_) | Kind::ZkElection(_) | Kind::Advisory(_) => {
                Err(invalid("only etcd machines have an etcd gateway"))
            }
            Kind::Mutex(g) => gateway_apply(g, now, req, Answer::Body(body, line)),
            Kind::Election(g) => gateway_apply(g, now, req, Answer::Body(body, line)),
            Kind::Observer(g) => gateway_apply(g, now, req, Answer::Body(body, line)),
        }
    }

    /// Delivers a transport failure for gateway request `req` (`fetch` threw,
    /// the stream broke): an error reply of `kind` (`timeout`, `connection`,
    /// `server`, `protocol`).
    pub fn gateway_failure(&mut self, now: u64, req: u64, kind: &str, message: &str) -> Result<()> {
        let kind = match kind {
            "timeout" => etcd::ErrorKind::Timeout,
            "connection" => etcd::ErrorKind::Connection,
            "server" => etcd::ErrorKind::Server,
            "protocol" => etcd::ErrorKind::Protocol,
            other => return Err(invalid(format!("unknown error kind {other:?}"))),
        };
        let answer = Answer::Failure(kind, message);
        match self {
            Kind::Redlock(_) | Kind::ZkLock(_) | Kind::ZkElection(_) | Kind::Advisory(_) => {
                Err(invalid("only etcd machines have an etcd gateway"))
            }
            Kind::Mutex(g) => gateway_apply(g, now, req, answer).map(drop),
            Kind::Election(g) => gateway_apply(g, now, req, answer).map(drop),
            Kind::Observer(g) => gateway_apply(g, now, req, answer).map(drop),
        }
    }
}

/// What the host got for a gateway request.
enum Answer<'a> {
    /// A response body, or (`true`) one line of a watch stream.
    Body(&'a [u8], bool),
    /// No response: the transport failed.
    Failure(etcd::ErrorKind, &'a str),
}

fn gateway_apply<M>(g: &mut Gateway<M>, now: u64, req: u64, answer: Answer<'_>) -> Result<bool>
where
    M: Machine<Input = etcd::Input, Output = EtcdOutput>,
{
    let index = g
        .pending
        .iter()
        .position(|c| c.req() == Some(RequestId(req)));
    let result = match (answer, index) {
        (Answer::Failure(kind, message), _) => etcd::Reply::error(kind, message),
        (Answer::Body(body, true), Some(_)) => match etcd_gateway::watch_reply(body) {
            Some(reply) => reply,
            None => return Ok(false),
        },
        (Answer::Body(body, false), Some(i)) => etcd_gateway::reply(&g.pending[i], body),
        // Not a request this wrapper sent (or already answered): the machine
        // tells unknown from duplicate and late replies itself.
        (Answer::Body(..), None) => etcd::Reply::error(
            etcd::ErrorKind::Protocol,
            "reply for a request the host does not know",
        ),
    };
    g.machine
        .handle_input(etcd::Input::Reply {
            now: Millis(now),
            req: RequestId(req),
            result,
        })
        .map_err(usage)?;
    if let Some(i) = index {
        g.pending.swap_remove(i);
    }
    Ok(true)
}

fn gateway_compact<M>(g: &mut Gateway<M>, timeout: Option<u64>) -> Result<Option<String>>
where
    M: Machine<Input = etcd::Input, Output = EtcdOutput>,
{
    let Some(first) = g.machine.poll_output() else {
        return Ok(None);
    };
    let mut text = String::with_capacity(256);
    write_timeout(&mut text, timeout);
    let mut next = Some(first);
    while let Some(output) = next {
        text.push(',');
        match output {
            EtcdOutput::Command(EtcdCommand::CancelWatch { watch }) => {
                g.pending.retain(|c| c.req() != Some(watch));
                text.push_str("{\"cancel\":");
                write_u64(&mut text, watch.0);
                text.push('}');
            }
            EtcdOutput::Command(command) => {
                let (Some(req), Some(request)) = (command.req(), etcd_gateway::encode(&command))
                else {
                    return Err(Fault::new(INTERNAL, "a command without a gateway request"));
                };
                let watch = matches!(command, EtcdCommand::Watch { .. });
                text.push_str("{\"req\":");
                write_u64(&mut text, req.0);
                text.push_str(",\"path\":");
                write_str(&mut text, request.path);
                text.push_str(if watch {
                    ",\"watch\":true,\"body\":"
                } else {
                    ",\"watch\":false,\"body\":"
                });
                text.push_str(&to_text(&request.body));
                text.push('}');
                g.pending.push(command);
            }
            other => {
                text.push_str(&to_text(&other));
            }
        }
        next = g.machine.poll_output();
    }
    text.push(']');
    Ok(Some(text))
}

/// `[timeout, output...]` with every output as its vocabulary object (machines
/// whose hosts run the commands themselves).
fn plain_compact<M: Subject>(m: &mut M, timeout: Option<u64>) -> Option<String>
where
    M::Input: FromJson,
    M::Output: ToJson,
{
    let first = m.poll_output()?;
    let mut text = String::with_capacity(128);
    write_timeout(&mut text, timeout);
    let mut next = Some(first);
    while let Some(output) = next {
        text.push(',');
        text.push_str(&to_text(&output));
        next = m.poll_output();
    }
    text.push(']');
    Some(text)
}

fn write_timeout(text: &mut String, timeout: Option<u64>) {
    match timeout {
        Some(t) => {
            text.push('[');
            write_u64(text, t);
        }
        None => text.push_str("[null"),
    }
}

fn redlock_compact(m: &mut Redlock, timeout: Option<u64>) -> Option<String> {
    fn index<'a>(tables: &mut Vec<&'a Arc<[String]>>, table: &'a Arc<[String]>) -> usize {
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
    let first = m.poll_output()?;
    let outputs: Vec<RedlockOutput> = core::iter::once(first)
        .chain(core::iter::from_fn(|| m.poll_output()))
        .collect();
    let mut tables: Vec<&Arc<[String]>> = Vec::new();
    let mut items = String::with_capacity(48 * outputs.len());
    for output in &outputs {
        items.push(',');
        match output {
            RedlockOutput::Command(RedlockCommand::Eval(eval)) => {
                let (k, a) = (
                    index(&mut tables, &eval.keys),
                    index(&mut tables, &eval.args),
                );
                items.push('[');
                write_u64(&mut items, eval.req.0);
                items.push(',');
                write_u64(&mut items, u64::from(eval.node.0));
                items.push(',');
                write_str(&mut items, eval.script.name());
                items.push(',');
                write_u64(&mut items, k as u64);
                items.push(',');
                write_u64(&mut items, a as u64);
                items.push(']');
            }
            other => items.push_str(&to_text(other)),
        }
    }
    let mut text = String::with_capacity(items.len() + 128);
    write_timeout(&mut text, timeout);
    text.push(',');
    text.push_str(&to_text(&tables));
    text.push_str(&items);
    text.push(']');
    Some(text)
}
