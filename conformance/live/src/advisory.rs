//! [`PgHost`]: drives the core's PostgreSQL advisory lock ([`Lock`]) against real
//! PostgreSQL with the synchronous `postgres` crate.
//!
//! A host is one **pinned session**: one connection that runs the machine's
//! statements in the order they were emitted, in autocommit mode, each result
//! tagged with the machine and the request (so a late result never reaches the
//! next lock). Statements are prepared once per session. Use one host per lock
//! held at a time: the session is the lock's owner.
//!
//! Two ways to run the statements:
//! - [`PgHost::connect`]: a session thread runs them while the drive loop keeps
//!   time, so the machine's request timeouts fire even if a statement hangs (what
//!   an async adapter does: node-postgres, psycopg's `AsyncConnection`);
//! - [`PgHost::connect_inline`]: the drive thread runs each statement as soon as
//!   the machine asks for it and feeds the result straight back (what a sync
//!   adapter does: psycopg's `Connection`); a hanging statement is bounded by the
//!   server's `statement_timeout` (set to 10 s on this connection) instead.
//!
//! It is also the reference for what a binding's PostgreSQL adapter does
//! (psycopg, node-postgres): run `command.sql` with `command.params`, return the
//! first row's columns, map errors by SQLSTATE and severity.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use fencelock_core::advisory::{
    AcquireFailure, AcquireStats, AdvisoryConfig, Command, ErrorKind, Event, Input, Lock, LockArgs,
    LockInfo, LostReason, Output, ReleaseOutcome, Reply, SqlValue,
};
use fencelock_core::{Machine, RequestId};
use postgres::types::{ToSql, Type};

use crate::host::next_wake;
use crate::{clock, AttemptSummary, MachineAcquireError, MachineHostError};

/// The PostgreSQL server `servers.sh start-postgres` started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The postmaster's PID.
    pub pid: u32,
}

impl PgServer {
    /// The connection string (trust auth, user and database `postgres`).
    #[must_use]
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5",
            self.port
        )
    }

    /// A new plain connection (for checks and the bare baseline).
    pub fn connect(&self) -> Result<postgres::Client, String> {
        postgres::Client::connect(&self.url(), postgres::NoTls)
            .map_err(|e| format!("connect to 127.0.0.1:{}: {e}", self.port))
    }
}

/// Reads `FENCELOCK_PG_PORT` and `FENCELOCK_PG_PIDS` from the environment.
pub fn postgres_from_env() -> Result<PgServer, String> {
    let read = |name: &str| {
        std::env::var(name).map_err(|_| {
            format!(
                "{name} is not set: start PostgreSQL with `conformance/live/servers.sh \
                 start-postgres DIR` and export DIR/env (set -a; . DIR/env; set +a)"
            )
        })
    };
    let port = read("FENCELOCK_PG_PORT")?
        .trim()
        .parse()
        .map_err(|_| "FENCELOCK_PG_PORT is not a port".to_string())?;
    let pid = read("FENCELOCK_PG_PIDS")?
        .trim()
        .parse()
        .map_err(|_| "FENCELOCK_PG_PIDS is not a pid".to_string())?;
    Ok(PgServer { port, pid })
}

/// The host itself went wrong (a bug in this host or in the core, never a lock
/// outcome).
pub type PgHostError = MachineHostError;

/// Why [`PgHost::lock`] returned no lock: the core refused the config, the
/// machine's `acquire_failed`, or a host bug (a session lock is never lost while
/// queued: `Lost` cannot be built).
pub type PgAcquireError = MachineAcquireError<AcquireFailure, AcquireStats, Infallible>;

impl AttemptSummary for AcquireStats {
    fn summarize(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "after {} ms, {} attempts", self.latency, self.attempts)
    }
}

/// A lock this host drives.
#[derive(Debug)]
pub struct Held {
    id: u64,
    /// The machine (read it; drive it through the host).
    pub machine: Lock,
    /// Why the lock was lost, once it was.
    pub lost: Option<LostReason>,
}

impl Held {
    /// The lock, once acquired.
    #[must_use]
    pub fn lock(&self) -> Option<&LockInfo> {
        self.machine.lock()
    }
}

struct Job {
    machine: u64,
    command: Command,
}

struct Delivery {
    machine: u64,
    req: RequestId,
    reply: Reply,
}

/// Where the statements run.
enum Session {
    Thread(Sender<Job>),
    Inline {
        client: Box<postgres::Client>,
        prepared: HashMap<String, postgres::Statement>,
    },
}

/// A host for advisory locks over one pinned PostgreSQL session.
pub struct PgHost {
    session: Session,
    tx: Sender<Delivery>,
    rx: Receiver<Delivery>,
    next_machine: u64,
    stash: HashMap<u64, Vec<Delivery>>,
}

impl fmt::Debug for PgHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgHost").finish_non_exhaustive()
    }
}

impl PgHost {
    /// Opens the pinned session (one connection, one thread).
    pub fn connect(server: &PgServer) -> Result<PgHost, String> {
        let client = server.connect()?;
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (tx, rx) = mpsc::channel();
        let results = tx.clone();
        thread::Builder::new()
            .name("pg-session".into())
            .spawn(move || session(client, &job_rx, &results))
            .map_err(|e| format!("session thread: {e}"))?;
        Ok(PgHost {
            session: Session::Thread(jobs),
            tx,
            rx,
            next_machine: 1,
            stash: HashMap::new(),
        })
    }

    /// Opens the pinned session, its statements run on the drive thread.
    pub fn connect_inline(server: &PgServer) -> Result<PgHost, String> {
        let url = format!("{} options='-c statement_timeout=10000'", server.url());
        let client = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| format!("connect to 127.0.0.1:{}: {e}", server.port))?;
        let (tx, rx) = mpsc::channel();
        Ok(PgHost {
            session: Session::Inline {
                client: Box::new(client),
                prepared: HashMap::new(),
            },
            tx,
            rx,
            next_machine: 1,
            stash: HashMap::new(),
        })
    }

    /// Locks `args.name` with a new machine and waits for the outcome.
    pub fn lock(
        &mut self,
        config: &AdvisoryConfig,
        args: LockArgs,
    ) -> Result<Held, PgAcquireError> {
        let machine = Lock::new(config, args).map_err(PgAcquireError::Config)?;
        let id = self.next_machine;
        self.next_machine += 1;
        let mut held = Held {
            id,
            machine,
            lost: None,
        };
        let events = self.drive(&mut held, None, None, |e| {
            matches!(e, Event::Acquired { .. } | Event::AcquireFailed { .. })
        })?;
        for event in events.into_iter().rev() {
            match event {
                Event::Acquired { .. } => return Ok(held),
                Event::AcquireFailed { reason, stats } => {
                    self.stash.remove(&held.id);
                    return Err(PgAcquireError::Failed { reason, stats });
                }
                _ => {}
            }
        }
        Err(PgHostError::Stalled(held.machine.state().name()).into())
    }

    /// Keeps driving a held lock for `duration` (its checks), as a holder does while
    /// it works; returns early with the reason if it is lost.
    pub fn hold_for(
        &mut self,
        held: &mut Held,
        duration: Duration,
    ) -> Result<Option<LostReason>, PgHostError> {
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

    /// Releases (unlock, or cancel) and waits for the outcome.
    pub fn release(&mut self, mut held: Held) -> Result<ReleaseOutcome, PgHostError> {
        let input = Input::Release { now: clock::now() };
        let events = self.drive(&mut held, Some(input), None, |e| {
            matches!(e, Event::Released { .. } | Event::AcquireFailed { .. })
        })?;
        self.stash.remove(&held.id);
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Released { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .unwrap_or(ReleaseOutcome::NotHeld))
    }

    /// The drive loop: apply `input`, run every statement, then alternate between
    /// delivering results and timeouts until an event satisfies `done`, the
    /// machine finishes, or `until` passes.
    pub fn drive(
        &mut self,
        held: &mut Held,
        input: Option<Input>,
        until: Option<Instant>,
        done: impl Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, PgHostError> {
        let mut events = Vec::new();
        if let Some(input) = input {
            held.machine.handle_input(input)?;
        }
        let mut finished = self.perform(held, &mut events, &done)?;
        let mut stashed: VecDeque<Delivery> =
            self.stash.remove(&held.id).unwrap_or_default().into();
        while !finished {
            if let Some(delivery) = stashed.pop_front() {
                finished = self.deliver(delivery, held, &mut events, &done)?;
                continue;
            }
            if held.machine.state().is_terminal() || until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            let now = clock::now();
            let timer = held.machine.poll_timeout();
            if timer.is_some_and(|at| at <= now) {
                held.machine.handle_input(Input::Timeout { now })?;
                finished = self.perform(held, &mut events, &done)?;
                continue;
            }
            let wake =
                next_wake(timer, until).unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            match self
                .rx
                .recv_timeout(wake.saturating_duration_since(Instant::now()))
            {
                Ok(delivery) if delivery.machine == held.id => {
                    finished = self.deliver(delivery, held, &mut events, &done)?;
                }
                Ok(delivery) => self
                    .stash
                    .entry(delivery.machine)
                    .or_default()
                    .push(delivery),
                Err(RecvTimeoutError::Timeout) => {
                    if timer.is_none() && until.is_none() {
                        return Err(PgHostError::Stalled(held.machine.state().name()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the host holds a sender"),
            }
        }
        Ok(events)
    }

    fn deliver(
        &mut self,
        delivery: Delivery,
        held: &mut Held,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, PgHostError> {
        held.machine.handle_input(Input::Reply {
            now: clock::now(),
            req: delivery.req,
            result: delivery.reply,
        })?;
        self.perform(held, events, done)
    }

    fn perform(
        &mut self,
        held: &mut Held,
        events: &mut Vec<Event>,
        done: &impl Fn(&Event) -> bool,
    ) -> Result<bool, PgHostError> {
        let mut finished = false;
        while let Some(output) = held.machine.poll_output() {
            match output {
                Output::Command(command) => {
                    let req = command.req();
                    match &mut self.session {
                        Session::Thread(jobs) => {
                            let job = Job {
                                machine: held.id,
                                command,
                            };
                            if jobs.send(job).is_err() {
                                // The session thread is gone: so is the session.
                                let _ = self.tx.send(Delivery {
                                    machine: held.id,
                                    req,
                                    reply: Reply::error(
                                        ErrorKind::Connection,
                                        "",
                                        "session closed",
                                    ),
                                });
                            }
                        }
                        Session::Inline { client, prepared } => {
                            let reply = run(client, prepared, &command);
                            let _ = self.tx.send(Delivery {
                                machine: held.id,
                                req,
                                reply,
                            });
                        }
                    }
                }
                Output::Event(event) => {
                    if let Event::Lost { reason, .. } = &event {
                        held.lost = Some(*reason);
                    }
                    finished |= done(&event);
                    events.push(event);
                }
                other => return Err(PgHostError::UnknownOutput(format!("{other:?}"))),
            }
        }
        Ok(finished)
    }
}

/// The pinned session: runs every job in order on one connection.
fn session(mut client: postgres::Client, jobs: &Receiver<Job>, results: &Sender<Delivery>) {
    let mut prepared: HashMap<String, postgres::Statement> = HashMap::new();
    while let Ok(job) = jobs.recv() {
        let req = job.command.req();
        let reply = run(&mut client, &mut prepared, &job.command);
        if results
            .send(Delivery {
                machine: job.machine,
                req,
                reply,
            })
            .is_err()
        {
            break;
        }
    }
}

/// Runs one statement and returns its first row (or why it has none).
fn run(
    client: &mut postgres::Client,
    prepared: &mut HashMap<String, postgres::Statement>,
    command: &Command,
) -> Reply {
    let Command::Query { sql, params, .. } = command else {
        return Reply::error(ErrorKind::Protocol, "", "unknown command");
    };
    if client.is_closed() {
        return Reply::error(ErrorKind::Connection, "", "connection closed");
    }
    let statement = match prepared.get(sql.as_ref()) {
        Some(statement) => statement.clone(),
        None => match client.prepare(sql) {
            Ok(statement) => {
                prepared.insert(sql.to_string(), statement.clone());
                statement
            }
            Err(e) => return error_reply(&e),
        },
    };
    let values: Vec<Box<dyn ToSql + Sync>> = params
        .iter()
        .zip(statement.params())
        .map(|(value, ty)| to_sql(value, ty))
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
    match client.query(&statement, &refs) {
        Ok(rows) => match rows.first() {
            Some(row) => Reply::Row {
                values: (0..row.len()).map(|i| from_sql(row, i)).collect(),
            },
            None => Reply::Done,
        },
        Err(e) => error_reply(&e),
    }
}

fn to_sql(value: &SqlValue, ty: &Type) -> Box<dyn ToSql + Sync> {
    match value {
        SqlValue::Text(text) => Box::new(text.clone()),
        SqlValue::Bool(b) => Box::new(*b),
        SqlValue::Int(i) if *ty == Type::INT4 => Box::new(i32::try_from(*i).unwrap_or(i32::MAX)),
        SqlValue::Int(i) if *ty == Type::INT2 => Box::new(i16::try_from(*i).unwrap_or(i16::MAX)),
        SqlValue::Int(i) => Box::new(*i),
        _ => Box::new(None::<String>),
    }
}

fn from_sql(row: &postgres::Row, i: usize) -> SqlValue {
    let ty = row.columns()[i].type_().clone();
    let value = if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)
            .ok()
            .flatten()
            .map(SqlValue::Bool)
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)
            .ok()
            .flatten()
            .map(|v| SqlValue::Int(v.into()))
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .ok()
            .flatten()
            .map(|v| SqlValue::Int(v.into()))
    } else if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .ok()
            .flatten()
            .map(SqlValue::Int)
    } else {
        row.try_get::<_, Option<String>>(i)
            .ok()
            .flatten()
            .map(SqlValue::Text)
    };
    value.unwrap_or(SqlValue::Null)
}

/// A driver error as the machine sees it: a FATAL error (the server is ending the
/// session: `57P01` after `pg_terminate_backend`) or a closed connection is
/// `connection`; other server errors keep their SQLSTATE.
fn error_reply(e: &postgres::Error) -> Reply {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        let fatal = matches!(db.severity(), "FATAL" | "PANIC");
        let kind = if fatal {
            ErrorKind::Connection
        } else {
            ErrorKind::Server
        };
        return Reply::error(kind, code, db.message());
    }
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let kind = if e.is_closed() || io {
        ErrorKind::Connection
    } else {
        ErrorKind::Server
    };
    Reply::error(kind, "", e.to_string())
}
