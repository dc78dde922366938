//! [`Client`]: connections to N Redis masters and the drive loop for Redlock
//! machines.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use fencelock_core::redlock::{
    AcquireArgs, AcquireFailure, AcquireStats, Command, Eval, Event, Input, Lease, LostReason,
    NodeErrorKind, NodeReply, Output, Redlock, RedlockConfig, ReleaseOutcome, Script, State,
};
use fencelock_core::wire::resp::{encode_eval, encode_script_load, RespValue};
use fencelock_core::{ConfigError, Machine, Millis, NodeId, UsageError};

use crate::clock;
use crate::conn::{Delivery, NodeConn, Tag};
use crate::host::next_wake;

/// How long a (re)connect to a master may take before the command fails with a
/// connection error.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// How long [`Client::connect`] waits for the initial `SCRIPT LOAD` replies.
const LOAD_WAIT: Duration = Duration::from_secs(2);

/// The host itself went wrong (a bug in this host or in the core, never a lock
/// outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The machine refused an input the host built.
    Usage(UsageError),
    /// The machine asked for nothing more (no timer, no pending reply) before the
    /// operation ended.
    Stalled(State),
    /// The machine emitted an output this host does not know (a newer core).
    UnknownOutput(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Usage(e) => write!(f, "host bug: machine refused input ({}): {e}", e.code()),
            HostError::Stalled(state) => {
                write!(f, "host bug: machine stalled in state {}", state.name())
            }
            HostError::UnknownOutput(output) => write!(f, "unknown machine output: {output}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<UsageError> for HostError {
    fn from(e: UsageError) -> Self {
        HostError::Usage(e)
    }
}

/// Why [`Client::acquire`] returned no lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireError {
    /// The configuration or arguments were refused by the core.
    Config(ConfigError),
    /// `config.nodes` differs from the number of masters the client is connected to.
    NodeCount {
        /// `config.nodes`.
        config: u32,
        /// Masters of the client.
        client: usize,
    },
    /// Every attempt failed, the deadline passed, or the acquisition was cancelled.
    Failed {
        /// Why.
        reason: AcquireFailure,
        /// How it went.
        stats: AcquireStats,
    },
    /// A host bug.
    Host(HostError),
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Config(e) => write!(f, "invalid lock configuration ({}): {e}", e.code()),
            AcquireError::NodeCount { config, client } => write!(
                f,
                "config.nodes is {config} but the client has {client} masters"
            ),
            AcquireError::Failed { reason, stats } => write!(
                f,
                "lock not acquired ({reason:?}) after {} attempts in {} ms",
                stats.attempts, stats.latency
            ),
            AcquireError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AcquireError {}

impl From<HostError> for AcquireError {
    fn from(e: HostError) -> Self {
        AcquireError::Host(e)
    }
}

/// A held lease: the machine that holds it, and what it returned.
#[derive(Debug)]
pub struct Held {
    id: u64,
    machine: Redlock,
    /// The lease as last reported (its `valid_until` moves on with extensions).
    pub lease: Lease,
    /// How the acquisition went (latency, attempts, contention).
    pub stats: AcquireStats,
    lost: Option<LostReason>,
}

impl Held {
    /// The fencing token (`None` when fencing is off in the config).
    #[must_use]
    pub fn token(&self) -> Option<u64> {
        self.lease.fencing_token.map(|t| t.0)
    }

    /// End of validity, on [`clock`].
    #[must_use]
    pub fn valid_until(&self) -> Millis {
        self.lease.valid_until
    }

    /// Validity left now (zero once past `valid_until` or lost). Reads the clock
    /// only: the machine learns about expiry the next time it is driven.
    #[must_use]
    pub fn remaining(&self) -> Duration {
        if self.lost.is_some() {
            return Duration::ZERO;
        }
        Duration::from_millis(self.lease.valid_until.since(clock::now()))
    }

    /// The machine's state as of the last time it was driven.
    #[must_use]
    pub fn state(&self) -> State {
        self.machine.state()
    }
}

/// What [`Client::extend`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendOutcome {
    /// A quorum confirmed; the lease is valid until the new time.
    Extended(Millis),
    /// No quorum; the lease is still valid until the unchanged time.
    Failed(Millis),
    /// The lease is lost (it may be released, not extended).
    Lost(LostReason),
}

/// Counters about the host itself (not the lock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Replies for machines that are no longer driven (late replies), dropped.
    pub dropped_replies: u64,
    /// Connections made after the first one, per node, summed.
    pub reconnects: u64,
    /// `NOSCRIPT` replies seen (each makes its connection reload the scripts).
    pub noscript: u64,
}

struct Node {
    index: u16,
    addr: SocketAddr,
    conn: Option<NodeConn>,
    connected_once: bool,
    /// Send `SCRIPT LOAD` for every script before the next command.
    reload: bool,
}

type Observer = Box<dyn FnMut(&Event) + Send>;

/// A host for Redlock machines over N Redis masters on `127.0.0.1`.
///
/// One connection per master, written in the order the machine emits commands;
/// a reader thread per connection hands replies back over a channel. Scripts are
/// loaded at connect time and then run with `EVALSHA`; a `NOSCRIPT` reply is
/// given to the machine as a server error and makes that connection reload the
/// scripts before its next command. A master that cannot be reached answers with
/// an immediate connection error; the client reconnects on the next command for
/// it. A stopped master never blocks the driver: the machine's `node_timeout`
/// gives up on it, and its late replies are dropped once their machine is gone.
///
/// Every operation runs one machine to its next outcome on the calling thread.
/// Between operations no request of a held lease is live, so the replies that
/// arrive meanwhile are late ones the machine would ignore anyway.
pub struct Client {
    nodes: Vec<Node>,
    tx: Sender<Delivery>,
    rx: Receiver<Delivery>,
    /// Failures known without waiting (connect errors), delivered before the channel.
    ready: VecDeque<Delivery>,
    next_machine: u64,
    /// Per script (in `Script::ALL` order): `EVALSHA` works; `false` after the
    /// server reported a different SHA1 than the core's constant (then `EVAL`).
    by_sha: [bool; 4],
    loads_pending: usize,
    warnings: Vec<String>,
    observer: Option<Observer>,
    stats: HostStats,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "masters",
                &self.nodes.iter().map(|n| n.addr).collect::<Vec<_>>(),
            )
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn script_index(script: Script) -> usize {
    Script::ALL
        .iter()
        .position(|s| *s == script)
        .unwrap_or_default()
}

impl Client {
    /// Connects to the masters on `127.0.0.1:<port>` and loads the scripts on each
    /// (waiting up to 2 s for those replies). Masters that are down are not an
    /// error here: they answer with connection errors until they come back.
    #[must_use]
    pub fn connect(ports: &[u16]) -> Client {
        let (tx, rx) = mpsc::channel();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, port)| Node {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                conn: None,
                connected_once: false,
                reload: true,
            })
            .collect();
        let mut client = Client {
            nodes,
            tx,
            rx,
            ready: VecDeque::new(),
            next_machine: 1,
            by_sha: [true; 4],
            loads_pending: 0,
            warnings: Vec::new(),
            observer: None,
            stats: HostStats::default(),
        };
        for i in 0..client.nodes.len() {
            if client.ensure_conn(i).is_ok() {
                client.load_scripts(i);
            }
        }
        let until = Instant::now() + LOAD_WAIT;
        while client.loads_pending > 0 {
            let wait = until.saturating_duration_since(Instant::now());
            match client.rx.recv_timeout(wait) {
                Ok(delivery) => client.on_idle_delivery(delivery),
                Err(_) => break,
            }
        }
        client
    }

    /// Calls `observer` with every event of every machine this client drives
    /// (for logs and metrics); replaces any previous observer.
    pub fn on_event(&mut self, observer: impl FnMut(&Event) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Counters about the host.
    #[must_use]
    pub fn stats(&self) -> HostStats {
        self.stats
    }

    /// Problems the host noticed on its own, such as a script SHA1 that differs
    /// from the core's constant (the client then falls back to `EVAL`).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Acquires `resources` with a new machine and a fresh random lock value.
    ///
    /// `timeout` is the acquire deadline (`None`: only the retry policy limits
    /// it). A `config.rng_seed` of 0 is replaced by a random seed, so competing
    /// clients do not retry in lockstep.
    pub fn acquire(
        &mut self,
        config: &RedlockConfig,
        resources: &[&str],
        timeout: Option<Duration>,
    ) -> Result<Held, AcquireError> {
        if usize::try_from(config.nodes).ok() != Some(self.nodes.len()) {
            return Err(AcquireError::NodeCount {
                config: config.nodes,
                client: self.nodes.len(),
            });
        }
        let mut config = config.clone();
        if config.rng_seed == 0 {
            config.rng_seed = crate::random_seed();
        }
        let resources = resources.iter().map(|r| (*r).to_string()).collect();
        let mut args = AcquireArgs::new(clock::now(), resources, crate::random_lock_value());
        if let Some(timeout) = timeout {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            args = args.with_timeout(ms.max(1));
        }
        let mut machine = Redlock::new(&config, args).map_err(AcquireError::Config)?;
        let id = self.next_machine;
        self.next_machine += 1;
        let events = self.run(id, &mut machine, None, None, |e| {
            matches!(e, Event::Acquired { .. } | Event::AcquireFailed { .. })
        })?;
        for event in events.into_iter().rev() {
            match event {
                Event::Acquired { lease, stats } => {
                    return Ok(Held {
                        id,
                        machine,
                        lease,
                        stats,
                        lost: None,
                    })
                }
                Event::AcquireFailed { reason, stats } => {
                    return Err(AcquireError::Failed { reason, stats })
                }
                _ => {}
            }
        }
        Err(HostError::Stalled(machine.state()).into())
    }

    /// Extends the lease now and waits for the outcome.
    pub fn extend(&mut self, held: &mut Held) -> Result<ExtendOutcome, HostError> {
        if let Some(reason) = held.lost {
            return Ok(ExtendOutcome::Lost(reason));
        }
        let input = Input::Extend { now: clock::now() };
        let events = self.drive(held, Some(input), None, |e| {
            matches!(
                e,
                Event::Extended { .. } | Event::ExtendFailed { .. } | Event::Lost { .. }
            )
        })?;
        Ok(match events.last() {
            Some(Event::Extended { valid_until }) => ExtendOutcome::Extended(*valid_until),
            Some(Event::ExtendFailed { valid_until, .. }) => ExtendOutcome::Failed(*valid_until),
            Some(Event::Lost { reason, .. }) => ExtendOutcome::Lost(*reason),
            _ => return Err(HostError::Stalled(held.state())),
        })
    }

    /// Keeps driving the lease for `duration` (auto-extensions, expiry warnings,
    /// loss), as a holder does while it works. Returns early with the reason if
    /// the lease is lost. An extension in flight when `duration` ends is finished
    /// first, so no request of the lease stays live afterwards.
    pub fn hold_for(
        &mut self,
        held: &mut Held,
        duration: Duration,
    ) -> Result<Option<LostReason>, HostError> {
        if let Some(reason) = held.lost {
            return Ok(Some(reason));
        }
        let until = Instant::now() + duration;
        let input = Input::Timeout { now: clock::now() };
        self.drive(held, Some(input), Some(until), |e| {
            matches!(e, Event::Lost { .. })
        })?;
        Ok(held.lost)
    }

    /// Releases the lease on every master and waits for the outcome (releasing an
    /// expired or lost lease is not an error). Replies that come later for this
    /// machine are dropped.
    pub fn release(&mut self, mut held: Held) -> Result<ReleaseOutcome, HostError> {
        let input = Input::Release { now: clock::now() };
        let events = self.drive(&mut held, Some(input), None, |e| {
            matches!(e, Event::Released { .. })
        })?;
        events
            .iter()
            .find_map(|e| match e {
                Event::Released { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .ok_or(HostError::Stalled(held.state()))
    }

    fn drive(
        &mut self,
        held: &mut Held,
        input: Option<Input>,
        until: Option<Instant>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, HostError> {
        let events = self.run(held.id, &mut held.machine, input, until, done)?;
        if let Some(lease) = held.machine.lease() {
            held.lease = lease.clone();
        }
        for event in &events {
            if let Event::Lost { reason, .. } = event {
                held.lost = Some(*reason);
            }
        }
        Ok(events)
    }

    /// The drive loop: apply `input`, perform every output, then alternate between
    /// delivering replies and timeouts until an event satisfies `done` (or, with
    /// `until`, that instant passes with no extension in flight).
    fn run(
        &mut self,
        id: u64,
        machine: &mut Redlock,
        input: Option<Input>,
        until: Option<Instant>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, HostError> {
        let mut events = Vec::new();
        if let Some(input) = input {
            machine.handle_input(input)?;
        }
        let mut finished = self.perform(id, machine, &mut events, &done)?;
        while !finished {
            if let Some(delivery) = self.ready.pop_front() {
                finished = self.deliver(delivery, id, machine, &mut events, &done)?;
                continue;
            }
            let now = clock::now();
            if until.is_some_and(|u| Instant::now() >= u) && machine.state() != State::Extending {
                break;
            }
            let timer = machine.poll_timeout();
            if timer.is_some_and(|at| at <= now) {
                machine.handle_input(Input::Timeout { now })?;
                finished = self.perform(id, machine, &mut events, &done)?;
                continue;
            }
            let wake = next_wake(timer, until).ok_or(HostError::Stalled(machine.state()))?;
            let wait = wake.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(delivery) => {
                    finished = self.deliver(delivery, id, machine, &mut events, &done)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                // `self.tx` keeps the channel open.
                Err(RecvTimeoutError::Disconnected) => unreachable!("client holds a sender"),
            }
        }
        Ok(events)
    }

    /// Drains the machine's outputs: sends commands, records events. Returns
    /// whether an event satisfied `done`.
    fn perform(
        &mut self,
        id: u64,
        machine: &mut Redlock,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, HostError> {
        let mut finished = false;
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Command(Command::Eval(eval)) => self.send(id, &eval),
                Output::Event(event) => {
                    if let Some(observer) = self.observer.as_mut() {
                        observer(&event);
                    }
                    finished |= done(&event);
                    events.push(event);
                }
                other => return Err(HostError::UnknownOutput(format!("{other:?}"))),
            }
        }
        Ok(finished)
    }

    /// Hands one reply to `machine` if it belongs to it; handles host-level
    /// replies (script loads, NOSCRIPT) for every connection.
    fn deliver(
        &mut self,
        delivery: Delivery,
        id: u64,
        machine: &mut Redlock,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, HostError> {
        let Tag::Eval {
            machine: owner,
            req,
        } = delivery.tag
        else {
            self.on_idle_delivery(delivery);
            return Ok(false);
        };
        self.note_noscript(&delivery);
        if owner != id {
            self.stats.dropped_replies += 1;
            return Ok(false);
        }
        let result = match delivery.result {
            Ok(value) => value.into_node_reply(),
            Err(message) => NodeReply::Error {
                kind: NodeErrorKind::Connection,
                message,
            },
        };
        machine.handle_input(Input::Reply {
            now: clock::now(),
            req,
            node: Some(NodeId(delivery.node)),
            result,
        })?;
        self.perform(id, machine, events, done)
    }

    /// A delivery while no machine owns it (or a script load).
    fn on_idle_delivery(&mut self, delivery: Delivery) {
        match delivery.tag {
            Tag::Load { script } => {
                self.loads_pending = self.loads_pending.saturating_sub(1);
                if let Ok(RespValue::Bulk(Some(sha))) = &delivery.result {
                    let sha = String::from_utf8_lossy(sha);
                    let i = script_index(script);
                    if sha != script.sha1() && self.by_sha[i] {
                        self.by_sha[i] = false;
                        let warning = format!(
                            "script {}: the server's SHA1 is {sha} but the core says {}; using EVAL",
                            script.name(),
                            script.sha1()
                        );
                        eprintln!("fencelock-live: {warning}");
                        self.warnings.push(warning);
                    }
                }
            }
            Tag::Eval { .. } => {
                self.note_noscript(&delivery);
                self.stats.dropped_replies += 1;
            }
        }
    }

    fn note_noscript(&mut self, delivery: &Delivery) {
        if matches!(&delivery.result, Ok(value) if value.is_noscript()) {
            self.stats.noscript += 1;
            if let Some(node) = self.nodes.get_mut(usize::from(delivery.node)) {
                node.reload = true;
            }
        }
    }

    /// Makes sure node `i` has a live connection; connects if needed.
    fn ensure_conn(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        if node.conn.as_ref().is_some_and(NodeConn::is_closed) {
            node.conn = None;
        }
        if node.conn.is_none() {
            let conn = NodeConn::connect(node.index, node.addr, CONNECT_TIMEOUT, self.tx.clone())
                .map_err(|e| format!("connect to {}: {e}", node.addr))?;
            if node.connected_once {
                self.stats.reconnects += 1;
            }
            node.connected_once = true;
            node.conn = Some(conn);
            node.reload = true;
        }
        Ok(())
    }

    /// Pipelines `SCRIPT LOAD` for every script on node `i` (connected).
    fn load_scripts(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let Some(conn) = node.conn.as_ref() else {
            return;
        };
        let mut bytes = Vec::new();
        let mut tags = Vec::new();
        for script in Script::ALL {
            encode_script_load(script, &mut bytes);
            tags.push(Tag::Load { script });
        }
        if conn.submit(&tags, bytes) {
            node.reload = false;
            self.loads_pending += tags.len();
        }
    }

    /// Sends one machine command to its node, or queues an immediate connection
    /// error when the node cannot be reached.
    fn send(&mut self, id: u64, eval: &Eval) {
        let i = usize::from(eval.node.0);
        let tag = Tag::Eval {
            machine: id,
            req: eval.req,
        };
        let fail = |message: String| Delivery {
            node: eval.node.0,
            tag,
            result: Err(message),
        };
        if i >= self.nodes.len() {
            self.ready
                .push_back(fail(format!("no master for node {}", eval.node.0)));
            return;
        }
        if let Err(message) = self.ensure_conn(i) {
            self.ready.push_back(fail(message));
            return;
        }
        if self.nodes[i].reload {
            self.load_scripts(i);
        }
        let mut bytes = Vec::new();
        encode_eval(eval, self.by_sha[script_index(eval.script)], &mut bytes);
        let sent = self.nodes[i]
            .conn
            .as_ref()
            .is_some_and(|conn| conn.submit(&[tag], bytes));
        if !sent {
            self.nodes[i].conn = None;
            self.ready.push_back(fail("connection closed".to_string()));
        }
    }
}
