//! [`EtcdHost`]: drives the core's etcd machines ([`Mutex`], [`Election`],
//! [`Observer`]) against real etcd through its JSON gateway, using only the
//! core's codec ([`fencelock_core::wire::etcd_gateway`]) and a blocking HTTP
//! client: what an edge worker with only `fetch` does, in Rust.
//!
//! Each command runs on its own short-lived thread (etcd commands may run
//! concurrently: a keep-alive while a watch waits); its reply comes back over a
//! channel tagged with the machine and the request. A watch thread reads the
//! newline-delimited stream until the first answering line, then drops the
//! connection; `cancel_watch` sets a flag the thread checks between lines (and
//! every watch request has an overall time limit, so no thread lingers). Requests
//! go to the endpoint that answered last; a connection failure moves on to the
//! next endpoint (a killed member), so a cluster keeps serving through a failover.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use fencelock_core::etcd::{
    AcquireFailure, AcquireStats, Command, Election, ElectionArgs, ErrorKind, EtcdConfig, Event,
    Input, Leader, LockInfo, LostReason, Mutex, MutexArgs, ObserveArgs, Observer, Output,
    ReleaseOutcome, Reply,
};
use fencelock_core::wire::etcd_gateway::{encode, reply, watch_reply};
use fencelock_core::{Machine, RequestId};

use crate::host::next_wake;
use crate::{clock, endpoints_from_env, AttemptSummary, MachineAcquireError, MachineHostError};

/// How long a normal gateway request may take before its thread gives up (the
/// machine's own request timeout is shorter and decides first).
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a watch request may stay open before its thread gives up (the
/// machine re-reads long before).
const WATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The host itself went wrong (a bug in this host or in the core, never a lock
/// outcome).
pub type EtcdHostError = MachineHostError;

/// Why [`EtcdHost::lock`] / [`EtcdHost::campaign`] returned no lock: the core
/// refused the config, `acquire_failed` (try-lock found it held, the deadline
/// passed, the acquisition was cancelled, or requests kept failing), our lease or
/// key was lost while queued (never held), or a host bug.
pub type EtcdAcquireError = MachineAcquireError<AcquireFailure, AcquireStats, LostReason>;

impl AttemptSummary for AcquireStats {
    fn summarize(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "after {} ms", self.latency)
    }
}

/// The etcd machines this host drives.
pub trait EtcdMachine: Machine<Input = Input, Output = Output> {
    /// The state's name, for errors.
    fn state_name(&self) -> &'static str;
    /// Whether the machine is done for good.
    fn finished(&self) -> bool;
}

macro_rules! etcd_machine {
    ($t:ty) => {
        impl EtcdMachine for $t {
            fn state_name(&self) -> &'static str {
                self.state().name()
            }
            fn finished(&self) -> bool {
                self.state().is_terminal()
            }
        }
    };
}
etcd_machine!(Mutex);
etcd_machine!(Election);
etcd_machine!(Observer);

/// A machine this host drives, with its host-side id.
#[derive(Debug)]
pub struct Driven<M> {
    id: u64,
    /// The machine (read it; drive it through the host).
    pub machine: M,
    /// Why the lock was lost, once it was.
    pub lost: Option<LostReason>,
}

/// A held lock or won election.
pub type Held<M> = Driven<M>;

impl Driven<Mutex> {
    /// The lock, once acquired.
    #[must_use]
    pub fn lock(&self) -> Option<&LockInfo> {
        self.machine.lock()
    }
}

impl Driven<Election> {
    /// The won election, once elected.
    #[must_use]
    pub fn lock(&self) -> Option<&LockInfo> {
        self.machine.lock()
    }
}

struct Delivery {
    machine: u64,
    req: RequestId,
    reply: Reply,
}

/// Where the gateway is: the cluster's client endpoints (`127.0.0.1:port`), and
/// the one that answered last.
#[derive(Debug)]
pub struct Endpoints {
    list: Vec<String>,
    preferred: AtomicUsize,
    failovers: AtomicU64,
}

impl Endpoints {
    /// Endpoints `host:port`, tried in this order.
    #[must_use]
    pub fn new(list: Vec<String>) -> Arc<Self> {
        Arc::new(Endpoints {
            list,
            preferred: AtomicUsize::new(0),
            failovers: AtomicU64::new(0),
        })
    }

    /// `POST path` with a JSON body; returns the status and the body. Connection
    /// failures move on to the next endpoint; every endpoint failing is an error.
    pub fn post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<(u16, String), (ErrorKind, String)> {
        let (mut response, tried, index) = self.send(agent, path, body, timeout)?;
        if tried > 0 {
            self.preferred.store(index, Ordering::Relaxed);
            self.failovers.fetch_add(1, Ordering::Relaxed);
        }
        let status = response.status().as_u16();
        match response.body_mut().read_to_string() {
            Ok(text) => Ok((status, text)),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Opens a watch stream (`POST /v3/watch`) on the first endpoint that accepts.
    fn open_watch(
        &self,
        agent: &ureq::Agent,
        body: &str,
    ) -> Result<ureq::Body, (ErrorKind, String)> {
        let (response, _, _) = self.send(agent, "/v3/watch", body, WATCH_TIMEOUT)?;
        Ok(response.into_body())
    }

    /// Sends `POST path` to each endpoint in turn, from the preferred one, until one
    /// accepts the connection. Returns its response, how many endpoints failed
    /// before it, and its index; every endpoint failing is an error. Does not move
    /// the preference (the caller decides).
    fn send(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<(ureq::http::Response<ureq::Body>, usize, usize), (ErrorKind, String)> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = String::from("no endpoints");
        for i in 0..self.list.len() {
            let index = (start + i) % self.list.len();
            let url = format!("http://{}{path}", self.list[index]);
            let sent = agent
                .post(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header("content-type", "application/json")
                .send(body);
            match sent {
                Ok(response) => return Ok((response, i, index)),
                Err(e) if is_connect_failure(&e) => last = format!("{url}: {e}"),
                Err(e) => return Err(classify(&e)),
            }
        }
        Err((ErrorKind::Connection, last))
    }

    /// How often a request moved on to another endpoint.
    #[must_use]
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }
}

fn is_connect_failure(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::ConnectionFailed | ureq::Error::Io(_))
}

fn classify(e: &ureq::Error) -> (ErrorKind, String) {
    let kind = match e {
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed => ErrorKind::Connection,
        _ => ErrorKind::Server,
    };
    (kind, e.to_string())
}

/// A plain agent for the gateway: HTTP error statuses are bodies too (etcd's
/// errors are JSON), no proxy, small pool.
#[must_use]
pub fn gateway_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

type Observe = Box<dyn FnMut(u64, &Event) + Send>;

/// A host for etcd machines over one etcd cluster's JSON gateway.
pub struct EtcdHost {
    endpoints: Arc<Endpoints>,
    agent: ureq::Agent,
    tx: Sender<Delivery>,
    rx: Receiver<Delivery>,
    next_machine: u64,
    /// Replies for machines not being driven right now, delivered when they are.
    stash: HashMap<u64, Vec<Delivery>>,
    watches: HashMap<(u64, RequestId), Arc<AtomicBool>>,
    observer: Option<Observe>,
}

impl fmt::Debug for EtcdHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdHost")
            .field("endpoints", &self.endpoints.list)
            .finish_non_exhaustive()
    }
}

impl EtcdHost {
    /// A host for the cluster at `endpoints` (`127.0.0.1:port`).
    #[must_use]
    pub fn new(endpoints: Arc<Endpoints>) -> EtcdHost {
        let (tx, rx) = mpsc::channel();
        EtcdHost {
            endpoints,
            agent: gateway_agent(),
            tx,
            rx,
            next_machine: 1,
            stash: HashMap::new(),
            watches: HashMap::new(),
            observer: None,
        }
    }

    /// Calls `observer` with every event of every machine (machine id, event).
    pub fn on_event(&mut self, observer: impl FnMut(u64, &Event) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// A raw gateway call (for checks beside the machines): status and body.
    pub fn post(&self, path: &str, body: &str) -> Result<(u16, String), String> {
        self.endpoints
            .post(&self.agent, path, body, HTTP_TIMEOUT)
            .map_err(|(_, message)| message)
    }

    /// Starts driving `machine` (its first commands go out on the next drive).
    pub fn start<M: EtcdMachine>(&mut self, machine: M) -> Driven<M> {
        let id = self.next_machine;
        self.next_machine += 1;
        Driven {
            id,
            machine,
            lost: None,
        }
    }

    /// Locks `args.name` with a new mutex and waits for the outcome.
    pub fn lock(
        &mut self,
        config: &EtcdConfig,
        args: MutexArgs,
    ) -> Result<Held<Mutex>, EtcdAcquireError> {
        let machine = Mutex::new(config, args).map_err(EtcdAcquireError::Config)?;
        self.acquire(machine)
    }

    /// Campaigns in `args.name` and waits until elected (or failed).
    pub fn campaign(
        &mut self,
        config: &EtcdConfig,
        args: ElectionArgs,
    ) -> Result<Held<Election>, EtcdAcquireError> {
        let machine = Election::new(config, args).map_err(EtcdAcquireError::Config)?;
        self.acquire(machine)
    }

    /// Drives a fresh mutex or election until it is acquired, failed or lost.
    pub fn acquire<M: EtcdMachine>(&mut self, machine: M) -> Result<Held<M>, EtcdAcquireError> {
        let mut driven = self.start(machine);
        // A queue place lost before the lock was held ends in `acquire_failed`
        // too: the machine removes its key and revokes its lease by itself.
        let events = self.drive(&mut driven, None, None, |e| {
            matches!(e, Event::Acquired { .. } | Event::AcquireFailed { .. })
        })?;
        for event in events.into_iter().rev() {
            match event {
                Event::Acquired { .. } => return Ok(driven),
                Event::AcquireFailed { reason, stats } => {
                    self.forget(&driven);
                    return Err(match (reason, driven.lost) {
                        (AcquireFailure::Lost, Some(reason)) => EtcdAcquireError::Lost(reason),
                        _ => EtcdAcquireError::Failed { reason, stats },
                    });
                }
                _ => {}
            }
        }
        Err(EtcdHostError::Stalled(driven.machine.state_name()).into())
    }

    /// Keeps driving a held lock for `duration` (keep-alives, warnings, loss), as a
    /// holder does while it works; returns early with the reason if it is lost.
    pub fn hold_for<M: EtcdMachine>(
        &mut self,
        held: &mut Held<M>,
        duration: Duration,
    ) -> Result<Option<LostReason>, EtcdHostError> {
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

    /// Election: proclaims `value`; returns whether it was applied (`false` when
    /// leadership was lost or the proclaim got no answer).
    pub fn proclaim(
        &mut self,
        held: &mut Held<Election>,
        value: &str,
    ) -> Result<bool, EtcdHostError> {
        let input = Input::Proclaim {
            now: clock::now(),
            value: value.into(),
        };
        let events = self.drive(held, Some(input), None, |e| {
            matches!(
                e,
                Event::Proclaimed { .. } | Event::ProclaimFailed { .. } | Event::Lost { .. }
            )
        })?;
        Ok(matches!(events.last(), Some(Event::Proclaimed { .. })))
    }

    /// Releases (unlock / resign / cancel) and waits for the outcome.
    pub fn release<M: EtcdMachine>(
        &mut self,
        mut held: Held<M>,
    ) -> Result<ReleaseOutcome, EtcdHostError> {
        let input = Input::Release { now: clock::now() };
        let events = self.drive(&mut held, Some(input), None, |e| {
            matches!(e, Event::Released { .. } | Event::AcquireFailed { .. })
        })?;
        self.forget(&held);
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Released { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .unwrap_or(ReleaseOutcome::AlreadyExpired))
    }

    /// Reads the leader of `name` once.
    pub fn leader(
        &mut self,
        config: &EtcdConfig,
        name: &str,
    ) -> Result<Option<Leader>, EtcdAcquireError> {
        let args = ObserveArgs::leader(clock::now(), name);
        let machine = Observer::new(config, args).map_err(EtcdAcquireError::Config)?;
        let mut driven = self.start(machine);
        let events = self.drive(&mut driven, None, None, |e| {
            matches!(e, Event::Leader { .. } | Event::ObserveFailed { .. })
        })?;
        self.forget(&driven);
        Ok(events.into_iter().find_map(|e| match e {
            Event::Leader { leader } => leader,
            _ => None,
        }))
    }

    /// The drive loop: apply `input`, perform every output, then alternate between
    /// delivering replies and timeouts until an event satisfies `done`, the
    /// machine finishes, or `until` passes.
    pub fn drive<M: EtcdMachine>(
        &mut self,
        driven: &mut Driven<M>,
        input: Option<Input>,
        until: Option<Instant>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, EtcdHostError> {
        let mut events = Vec::new();
        if let Some(input) = input {
            driven.machine.handle_input(input)?;
        }
        let mut finished = self.perform(driven, &mut events, &done)?;
        let mut stashed: std::collections::VecDeque<Delivery> =
            self.stash.remove(&driven.id).unwrap_or_default().into();
        while !finished {
            if let Some(delivery) = stashed.pop_front() {
                finished = self.deliver(delivery, driven, &mut events, &done)?;
                continue;
            }
            if driven.machine.finished() {
                break;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            let now = clock::now();
            let timer = driven.machine.poll_timeout();
            if timer.is_some_and(|at| at <= now) {
                driven.machine.handle_input(Input::Timeout { now })?;
                finished = self.perform(driven, &mut events, &done)?;
                continue;
            }
            let wake =
                next_wake(timer, until).unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            let wait = wake.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(delivery) if delivery.machine == driven.id => {
                    finished = self.deliver(delivery, driven, &mut events, &done)?;
                }
                Ok(delivery) => self
                    .stash
                    .entry(delivery.machine)
                    .or_default()
                    .push(delivery),
                Err(RecvTimeoutError::Timeout) => {
                    if timer.is_none() && until.is_none() {
                        return Err(EtcdHostError::Stalled(driven.machine.state_name()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the host holds a sender"),
            }
        }
        Ok(events)
    }

    fn forget<M>(&mut self, driven: &Driven<M>) {
        self.stash.remove(&driven.id);
        let id = driven.id;
        self.watches.retain(|(machine, _), flag| {
            if *machine == id {
                flag.store(true, Ordering::Relaxed);
            }
            *machine != id
        });
    }

    fn deliver<M: EtcdMachine>(
        &mut self,
        delivery: Delivery,
        driven: &mut Driven<M>,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, EtcdHostError> {
        self.watches.remove(&(driven.id, delivery.req));
        driven.machine.handle_input(Input::Reply {
            now: clock::now(),
            req: delivery.req,
            result: delivery.reply,
        })?;
        self.perform(driven, events, done)
    }

    /// Drains the machine's outputs: runs commands, records events. Returns
    /// whether an event satisfied `done`.
    fn perform<M: EtcdMachine>(
        &mut self,
        driven: &mut Driven<M>,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, EtcdHostError> {
        let mut finished = false;
        while let Some(output) = driven.machine.poll_output() {
            match output {
                Output::Command(command) => self.run(driven.id, command),
                Output::Event(event) => {
                    if let Event::Lost { reason, .. } = &event {
                        driven.lost = Some(*reason);
                    }
                    if let Some(observer) = self.observer.as_mut() {
                        observer(driven.id, &event);
                    }
                    finished |= done(&event);
                    events.push(event);
                }
                other => return Err(EtcdHostError::UnknownOutput(format!("{other:?}"))),
            }
        }
        Ok(finished)
    }

    /// Runs one command on its own thread.
    fn run(&mut self, machine: u64, command: Command) {
        if let Command::CancelWatch { watch } = command {
            if let Some(flag) = self.watches.remove(&(machine, watch)) {
                flag.store(true, Ordering::Relaxed);
            }
            return;
        }
        let Some(req) = command.req() else {
            return;
        };
        let Some(request) = encode(&command) else {
            return;
        };
        let tx = self.tx.clone();
        let agent = self.agent.clone();
        let endpoints = self.endpoints.clone();
        if let Command::Watch { .. } = command {
            let cancelled = Arc::new(AtomicBool::new(false));
            self.watches.insert((machine, req), cancelled.clone());
            thread::spawn(move || {
                let reply = watch(&endpoints, &agent, &request.body, &cancelled);
                if let Some(reply) = reply.filter(|_| !cancelled.load(Ordering::Relaxed)) {
                    let _ = tx.send(Delivery {
                        machine,
                        req,
                        reply,
                    });
                }
            });
            return;
        }
        thread::spawn(move || {
            let reply = match endpoints.post(&agent, request.path, &request.body, HTTP_TIMEOUT) {
                Ok((_, body)) => reply(&command, body.as_bytes()),
                Err((kind, message)) => Reply::Error { kind, message },
            };
            let _ = tx.send(Delivery {
                machine,
                req,
                reply,
            });
        });
    }
}

/// Reads a watch stream until its first answering line (or its end).
fn watch(
    endpoints: &Endpoints,
    agent: &ureq::Agent,
    body: &str,
    cancelled: &AtomicBool,
) -> Option<Reply> {
    let stream = match endpoints.open_watch(agent, body) {
        Ok(stream) => stream,
        Err((kind, message)) => return Some(Reply::Error { kind, message }),
    };
    let mut reader = BufReader::new(stream.into_reader());
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                return Some(Reply::Error {
                    kind: ErrorKind::Connection,
                    message: "watch stream ended".into(),
                })
            }
            Ok(_) => {
                if cancelled.load(Ordering::Relaxed) {
                    return None;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Some(reply) = watch_reply(&line) {
                    return Some(reply);
                }
            }
            Err(e) => {
                return Some(Reply::Error {
                    kind: ErrorKind::Connection,
                    message: format!("watch stream: {e}"),
                })
            }
        }
    }
}

/// Endpoints and PIDs that `servers.sh start-etcd` / `start-etcd-cluster` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdServers {
    /// `127.0.0.1:port`, one per member.
    pub endpoints: Vec<String>,
    /// The members' PIDs, in the same order.
    pub pids: Vec<u32>,
}

/// Reads `<prefix>_ENDPOINTS` and `<prefix>_PIDS` (`FENCELOCK_ETCD` for the single
/// member, `FENCELOCK_ETCD_CLUSTER` for the cluster).
pub fn etcd_from_env(prefix: &str) -> Result<EtcdServers, String> {
    let (endpoints, pids) = endpoints_from_env(
        prefix,
        "start etcd with `conformance/live/servers.sh start-etcd DIR` \
         (or start-etcd-cluster 3 DIR) and export DIR/env (set -a; . DIR/env; set +a)",
    )?;
    Ok(EtcdServers { endpoints, pids })
}
