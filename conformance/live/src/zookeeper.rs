//! [`ZkHost`]: drives the core's ZooKeeper machines ([`Lock`], [`Election`])
//! against real ZooKeeper with the `zookeeper-client` crate, on a small tokio
//! runtime the host owns.
//!
//! Each [`Command`] is one client call. The call is made on the drive thread, in
//! emission order (the client enqueues the request when the call is made; its
//! future only awaits the reply), and the reply is awaited on the runtime and
//! sent back over a channel tagged with the machine and the request, so a late
//! reply never reaches the next lock. A `get_data` with a watch then waits for
//! the watch and delivers it as [`Input::Watch`]. The session's state changes
//! (disconnected, reconnected, expired) are delivered to every live machine.
//!
//! It is also the reference for what a binding's ZooKeeper adapter does (kazoo,
//! node-zookeeper-client): the same calls, the same error mapping.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use fencelock_core::zookeeper::{
    AcquireFailure, AcquireStats, Command, Election, ElectionArgs, ErrorKind, Event, Input, Lock,
    LockArgs, LockInfo, LostReason, Output, ReleaseOutcome, Reply, SessionId, Stat, WatchEventKind,
    ZooKeeperConfig,
};
use fencelock_core::{Machine, RequestId};
use zookeeper_client as zk;

use crate::host::next_wake;
use crate::{clock, endpoints_from_env, AttemptSummary, MachineAcquireError, MachineHostError};

/// ZooKeeper servers started by `servers.sh start-zookeeper` (prefix
/// `FENCELOCK_ZK`) or `start-zookeeper-ensemble` (`FENCELOCK_ZK_ENSEMBLE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkServers {
    /// `127.0.0.1:port` of each server.
    pub endpoints: Vec<String>,
    /// Their PIDs, in the same order.
    pub pids: Vec<u32>,
}

impl ZkServers {
    /// The connect string (`host:port,host:port`).
    #[must_use]
    pub fn connect_string(&self) -> String {
        self.endpoints.join(",")
    }
}

/// Reads `{prefix}_ENDPOINTS` and `{prefix}_PIDS` from the environment.
pub fn zookeeper_from_env(prefix: &str) -> Result<ZkServers, String> {
    let (endpoints, pids) = endpoints_from_env(
        prefix,
        "start ZooKeeper with `conformance/live/servers.sh \
         start-zookeeper DIR` (or start-zookeeper-ensemble 3 DIR) and export DIR/env",
    )?;
    Ok(ZkServers { endpoints, pids })
}

/// The host itself went wrong (a bug in this host or in the core, never a lock
/// outcome).
pub type ZkHostError = MachineHostError;

/// Why [`ZkHost::lock`] / [`ZkHost::campaign`] returned no lock: the core refused
/// the config, `acquire_failed` (try-lock found it held, the deadline passed, it
/// was cancelled, or requests kept failing), our node or session was lost while
/// queued, or a host bug.
pub type ZkAcquireError = MachineAcquireError<AcquireFailure, AcquireStats, LostReason>;

impl AttemptSummary for AcquireStats {
    fn summarize(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "after {} ms", self.latency)
    }
}

/// The ZooKeeper machines this host drives.
pub trait ZkMachine: Machine<Input = Input, Output = Output> {
    /// The state's name, for errors.
    fn state_name(&self) -> &'static str;
    /// Whether the machine is done for good.
    fn finished(&self) -> bool;
    /// The lock, once acquired.
    fn lock_info(&self) -> Option<&LockInfo>;
}

macro_rules! zk_machine {
    ($t:ty) => {
        impl ZkMachine for $t {
            fn state_name(&self) -> &'static str {
                self.state().name()
            }
            fn finished(&self) -> bool {
                self.state().is_terminal()
            }
            fn lock_info(&self) -> Option<&LockInfo> {
                self.lock()
            }
        }
    };
}
zk_machine!(Lock);
zk_machine!(Election);

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

impl<M: ZkMachine> Driven<M> {
    /// The lock, once acquired.
    #[must_use]
    pub fn lock(&self) -> Option<&LockInfo> {
        self.machine.lock_info()
    }
}

enum Delivery {
    Reply {
        machine: u64,
        req: RequestId,
        reply: Reply,
    },
    Watch {
        machine: u64,
        req: RequestId,
        event: WatchEventKind,
    },
    /// A session state change, for every live machine.
    Session(SessionChange),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionChange {
    Disconnected,
    Connected,
    Expired,
}

type Observe = Box<dyn FnMut(u64, &Event) + Send>;

/// A host for ZooKeeper machines over one client session.
pub struct ZkHost {
    rt: tokio::runtime::Runtime,
    client: zk::Client,
    connect_string: String,
    session: SessionId,
    session_timeout: u64,
    tx: Sender<Delivery>,
    rx: Receiver<Delivery>,
    next_machine: u64,
    live: HashSet<u64>,
    /// Deliveries for machines not being driven right now.
    stash: HashMap<u64, Vec<Delivery>>,
    observer: Option<Observe>,
}

impl fmt::Debug for ZkHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkHost")
            .field("connect_string", &self.connect_string)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The machine's view of a client error.
fn error_reply(e: &zk::Error) -> Reply {
    let kind = match e {
        zk::Error::NoNode => ErrorKind::NoNode,
        zk::Error::NodeExists => ErrorKind::NodeExists,
        zk::Error::ConnectionLoss => ErrorKind::Connection,
        zk::Error::SessionExpired | zk::Error::ClientClosed | zk::Error::AuthFailed => {
            ErrorKind::SessionExpired
        }
        zk::Error::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    };
    Reply::error(kind, e.to_string())
}

fn stat(stat: &zk::Stat) -> Stat {
    Stat::new(stat.czxid as u64, stat.ephemeral_owner as u64)
}

impl ZkHost {
    /// Connects a new session to `connect_string` (`host:port,...`), asking for
    /// `session_timeout` (the server negotiates it within 2 to 20 ticks).
    pub fn connect(connect_string: &str, session_timeout: Duration) -> Result<ZkHost, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let client = rt
            .block_on(
                zk::Client::connector()
                    .with_session_timeout(session_timeout)
                    .with_connection_timeout(Duration::from_secs(5))
                    .connect(connect_string),
            )
            .map_err(|e| format!("connect to {connect_string}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let mut watcher = client.state_watcher();
        let states = tx.clone();
        rt.spawn(async move {
            loop {
                let change = match watcher.changed().await {
                    zk::SessionState::SyncConnected => SessionChange::Connected,
                    zk::SessionState::Disconnected | zk::SessionState::ConnectedReadOnly => {
                        SessionChange::Disconnected
                    }
                    _ => SessionChange::Expired,
                };
                if states.send(Delivery::Session(change)).is_err()
                    || change == SessionChange::Expired
                {
                    break;
                }
            }
        });
        let session = SessionId(client.session_id().0 as u64);
        let session_timeout =
            u64::try_from(client.session_timeout().as_millis()).unwrap_or(u64::MAX);
        Ok(ZkHost {
            rt,
            client,
            connect_string: connect_string.to_string(),
            session,
            session_timeout,
            tx,
            rx,
            next_machine: 1,
            live: HashSet::new(),
            stash: HashMap::new(),
            observer: None,
        })
    }

    /// Our session id.
    #[must_use]
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The session timeout the server negotiated, in ms.
    #[must_use]
    pub fn session_timeout(&self) -> u64 {
        self.session_timeout
    }

    /// The underlying client (for checks beside the machines).
    #[must_use]
    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// Runs a future on the host's runtime (for checks beside the machines).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    /// Calls `observer` with every event of every machine (machine id, event).
    pub fn on_event(&mut self, observer: impl FnMut(u64, &Event) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Starts driving `machine` (its first commands go out on the next drive).
    pub fn start<M: ZkMachine>(&mut self, machine: M) -> Driven<M> {
        let id = self.next_machine;
        self.next_machine += 1;
        self.live.insert(id);
        Driven {
            id,
            machine,
            lost: None,
        }
    }

    /// Arguments for a lock on `path` in this host's session, with a fresh guid.
    #[must_use]
    pub fn lock_args(&self, path: &str) -> LockArgs {
        LockArgs::new(
            clock::now(),
            path,
            crate::random_lock_value(),
            self.session,
            self.session_timeout,
        )
    }

    /// Locks with a new [`Lock`] built from `args` and waits for the outcome.
    pub fn lock(
        &mut self,
        config: &ZooKeeperConfig,
        args: LockArgs,
    ) -> Result<Held<Lock>, ZkAcquireError> {
        let machine = Lock::new(config, args).map_err(ZkAcquireError::Config)?;
        self.acquire(machine)
    }

    /// Campaigns in `path` with `value` and waits until elected (or failed).
    pub fn campaign(
        &mut self,
        config: &ZooKeeperConfig,
        path: &str,
        value: &str,
        timeout: Option<u64>,
    ) -> Result<Held<Election>, ZkAcquireError> {
        let mut args = ElectionArgs::new(
            clock::now(),
            path,
            crate::random_lock_value(),
            self.session,
            self.session_timeout,
            value,
        );
        args.timeout = timeout;
        let machine = Election::new(config, args).map_err(ZkAcquireError::Config)?;
        self.acquire(machine)
    }

    /// Drives a fresh machine until it is acquired, failed or lost.
    pub fn acquire<M: ZkMachine>(&mut self, machine: M) -> Result<Held<M>, ZkAcquireError> {
        let mut driven = self.start(machine);
        // A queue place lost before the lock was held ends in `acquire_failed`
        // too: the machine deletes its node by itself.
        let events = self.drive(&mut driven, None, None, |e| {
            matches!(e, Event::Acquired { .. } | Event::AcquireFailed { .. })
        })?;
        for event in events.into_iter().rev() {
            match event {
                Event::Acquired { .. } => return Ok(driven),
                Event::AcquireFailed { reason, stats } => {
                    self.forget(&driven);
                    return Err(match (reason, driven.lost) {
                        (AcquireFailure::Lost, Some(reason)) => ZkAcquireError::Lost(reason),
                        _ => ZkAcquireError::Failed { reason, stats },
                    });
                }
                _ => {}
            }
        }
        Err(ZkHostError::Stalled(driven.machine.state_name()).into())
    }

    /// Keeps driving a held lock for `duration` (checks, warnings, loss), as a
    /// holder does while it works; returns early with the reason if it is lost.
    pub fn hold_for<M: ZkMachine>(
        &mut self,
        held: &mut Held<M>,
        duration: Duration,
    ) -> Result<Option<LostReason>, ZkHostError> {
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

    /// Releases (unlock / resign / cancel) and waits for the outcome.
    pub fn release<M: ZkMachine>(
        &mut self,
        mut held: Held<M>,
    ) -> Result<ReleaseOutcome, ZkHostError> {
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

    /// The drive loop: apply `input`, perform every output, then alternate between
    /// delivering replies, watches, session changes and timeouts until an event
    /// satisfies `done`, the machine finishes, or `until` passes.
    pub fn drive<M: ZkMachine>(
        &mut self,
        driven: &mut Driven<M>,
        input: Option<Input>,
        until: Option<Instant>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, ZkHostError> {
        let mut events = Vec::new();
        if let Some(input) = input {
            driven.machine.handle_input(input)?;
        }
        let mut finished = self.perform(driven, &mut events, &done)?;
        let mut stashed: VecDeque<Delivery> =
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
                Ok(Delivery::Session(change)) => {
                    for id in self.live.iter().filter(|id| **id != driven.id) {
                        self.stash
                            .entry(*id)
                            .or_default()
                            .push(Delivery::Session(change));
                    }
                    finished =
                        self.deliver(Delivery::Session(change), driven, &mut events, &done)?;
                }
                Ok(delivery) if delivery_machine(&delivery) == Some(driven.id) => {
                    finished = self.deliver(delivery, driven, &mut events, &done)?;
                }
                Ok(delivery) => {
                    if let Some(id) =
                        delivery_machine(&delivery).filter(|id| self.live.contains(id))
                    {
                        self.stash.entry(id).or_default().push(delivery);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if timer.is_none() && until.is_none() {
                        return Err(ZkHostError::Stalled(driven.machine.state_name()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the host holds a sender"),
            }
        }
        Ok(events)
    }

    fn forget<M>(&mut self, driven: &Driven<M>) {
        self.stash.remove(&driven.id);
        self.live.remove(&driven.id);
    }

    fn deliver<M: ZkMachine>(
        &mut self,
        delivery: Delivery,
        driven: &mut Driven<M>,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, ZkHostError> {
        let now = clock::now();
        let input = match delivery {
            Delivery::Reply { req, reply, .. } => Input::Reply {
                now,
                req,
                result: reply,
            },
            Delivery::Watch { req, event, .. } => Input::Watch { now, req, event },
            Delivery::Session(SessionChange::Disconnected) => Input::Disconnected { now },
            Delivery::Session(SessionChange::Connected) => Input::Connected {
                now,
                session: self.session,
            },
            Delivery::Session(SessionChange::Expired) => Input::SessionExpired { now },
        };
        driven.machine.handle_input(input)?;
        self.perform(driven, events, done)
    }

    /// Drains the machine's outputs: runs commands, records events. Returns
    /// whether an event satisfied `done`.
    fn perform<M: ZkMachine>(
        &mut self,
        driven: &mut Driven<M>,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, ZkHostError> {
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
                other => return Err(ZkHostError::UnknownOutput(format!("{other:?}"))),
            }
        }
        Ok(finished)
    }

    /// Runs one command: the client call is made now (so requests reach the
    /// session in emission order); its reply (and a watch) is awaited on the
    /// runtime.
    fn run(&self, machine: u64, command: Command) {
        let tx = self.tx.clone();
        let client = self.client.clone();
        let req = command.req();
        let reply = move |reply: Reply| {
            let _ = tx.send(Delivery::Reply {
                machine,
                req,
                reply,
            });
        };
        match command {
            Command::Create { path, data, .. } => self.submit(async move {
                let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
                reply(
                    match client.create(&path, data.as_bytes(), &options).await {
                        Ok((s, sequence)) => Reply::Created {
                            path: format!("{path}{sequence}"),
                            stat: Some(stat(&s)),
                        },
                        Err(e) => error_reply(&e),
                    },
                );
            }),
            Command::EnsurePath { path, .. } => self.submit(async move {
                let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                reply(match client.mkdir(&path, &options).await {
                    Ok(()) | Err(zk::Error::NodeExists) => Reply::Ok,
                    Err(e) => error_reply(&e),
                });
            }),
            Command::GetChildren { path, .. } => self.submit(async move {
                reply(match client.list_children(&path).await {
                    Ok(children) => Reply::Children { children },
                    Err(e) => error_reply(&e),
                });
            }),
            Command::Exists { path, .. } => self.submit(async move {
                reply(match client.check_stat(&path).await {
                    Ok(Some(s)) => Reply::Stat { stat: stat(&s) },
                    Ok(None) => Reply::error(ErrorKind::NoNode, "no node"),
                    Err(e) => error_reply(&e),
                });
            }),
            Command::Delete { path, .. } => self.submit(async move {
                reply(match client.delete(&path, None).await {
                    Ok(()) => Reply::Ok,
                    Err(e) => error_reply(&e),
                });
            }),
            Command::GetData { path, .. } => {
                let watch_tx = self.tx.clone();
                self.submit(async move {
                    let watcher = match client.get_and_watch_data(&path).await {
                        Ok((_, s, watcher)) => {
                            reply(Reply::Stat { stat: stat(&s) });
                            watcher
                        }
                        Err(e) => return reply(error_reply(&e)),
                    };
                    let event = match watcher.changed().await.event_type {
                        zk::EventType::NodeDeleted => WatchEventKind::Deleted,
                        zk::EventType::NodeCreated => WatchEventKind::Created,
                        zk::EventType::NodeDataChanged => WatchEventKind::DataChanged,
                        zk::EventType::NodeChildrenChanged => WatchEventKind::ChildrenChanged,
                        // The session ended: the state watcher reports it.
                        zk::EventType::Session => return,
                    };
                    let _ = watch_tx.send(Delivery::Watch {
                        machine,
                        req,
                        event,
                    });
                });
            }
            // A newer core's command this host does not know: no reply; the
            // machine's request timeout will report it.
            _ => {}
        }
    }

    /// Polls `future` once on this thread (making the client call, which enqueues
    /// the request), then leaves the rest to the runtime.
    fn submit(&self, future: impl Future<Output = ()> + Send + 'static) {
        let _runtime = self.rt.enter();
        let mut future = Box::pin(future);
        let mut cx = Context::from_waker(Waker::noop());
        if future.as_mut().poll(&mut cx).is_pending() {
            self.rt.spawn(future);
        }
    }
}

fn delivery_machine(delivery: &Delivery) -> Option<u64> {
    match delivery {
        Delivery::Reply { machine, .. } | Delivery::Watch { machine, .. } => Some(*machine),
        Delivery::Session(_) => None,
    }
}

/// The mode (`leader`, `follower`, `standalone`) a server on `endpoint` reports to
/// the `srvr` four-letter word, or `None` if it does not answer.
#[must_use]
pub fn server_mode(endpoint: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = endpoint.parse().ok()?;
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(b"srvr").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("Mode: "))
        .map(str::to_string)
}
