//! The engine behind [`Lock`] and [`Election`]: one ephemeral sequential node,
//! from its create to its delete.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::config::{
    check_data, check_guid, check_path, check_start, ElectionArgs, LockArgs, Params,
    ZooKeeperConfig,
};
use super::protocol::{
    contender_sequence, AcquireFailure, AcquireStats, Command, CreateMode, ErrorKind, Event, Input,
    LockInfo, LostReason, Output, ReleaseOutcome, Reply, SessionId, Stat, State,
};
use crate::backoff::NextAttempt;
use crate::backoff::SplitMix64;
use crate::error::{ConfigError, UsageError};
use crate::fence::FencingToken;
use crate::pending::Requests;
use crate::pending::MAX_GIVEN_UP;
use crate::redlock::config::check_timeout;
use crate::types::{earliest, keep_earliest, Millis, RequestId};
use crate::Machine;

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    /// Create our node.
    Create,
    /// Create the lock path and its parents.
    EnsurePath,
    /// List the children (acquiring: find our place, or our node after a failed create).
    List,
    /// `get_data` with a watch on the predecessor.
    Watch,
    /// `exists(ours)` before acquiring, when the create gave no stat.
    Confirm,
    /// `exists(ours)` to keep the session's validity and see our node in place.
    Check,
    /// Delete a node of ours (release, giving up).
    Delete,
    /// List the children to find our node by its guid (giving up before the create answered).
    Sweep,
    /// Delete a duplicate node of ours; fire and forget.
    Orphan,
}

impl Tag {
    const fn command(self) -> &'static str {
        match self {
            Tag::Create => "create",
            Tag::EnsurePath => "ensure_path",
            Tag::List | Tag::Sweep => "get_children",
            Tag::Watch => "get_data",
            Tag::Confirm | Tag::Check => "exists",
            Tag::Delete | Tag::Orphan => "delete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lock,
    Election,
}

/// The lock track: at most one request (or one scheduled request) at a time.
#[derive(Clone, Copy, Debug)]
enum Step {
    Idle,
    InFlight { req: RequestId, tag: Tag },
    Watching { req: RequestId, recheck_at: Millis },
    Scheduled { tag: Tag, at: Millis },
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Release { held_for: u64 },
    GiveUp(AcquireFailure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Acquiring,
    Held,
    Uncertain,
    Lost,
    Cleanup,
    Released,
    Failed,
}

/// The periodic `exists(ours)`.
#[derive(Clone, Copy, Debug, Default)]
struct Check {
    in_flight: Option<RequestId>,
    /// When a failed check is retried (instead of `last answer + interval`).
    retry_at: Option<Millis>,
}

/// What a failed request reports.
type Failure = (ErrorKind, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Deadline,
    Request,
    Step,
    Warning,
    Check,
}

#[derive(Clone, Debug)]
struct Engine {
    params: Params,
    /// The lock path `P`.
    parent: Arc<str>,
    /// `P/<guid>-lock-`: what the create names.
    create_path: Arc<str>,
    /// `<guid>-lock-`: how our children's names start.
    own_prefix: String,
    data: Arc<str>,
    try_lock: bool,
    rng: SplitMix64,
    now: Millis,
    reqs: Requests<Tag>,
    /// `get_data` requests (their watches) and whether each has fired.
    watches: VecDeque<(u64, bool)>,
    watches_forgotten_below: u64,
    op_start: Millis,
    deadline: Option<Millis>,
    /// Consecutive failed requests of the lock track.
    failures: u32,
    stats: AcquireStats,
    session: SessionId,
    connected: bool,
    valid_until: Millis,
    /// Send time of the request whose answer set `valid_until`.
    period_start: Millis,
    /// `period_start` of the validity period the expiry warning was given for.
    warned: Option<Millis>,
    /// When the last server answer arrived.
    last_answer_at: Millis,
    check: Check,
    /// Our node's full path, once known.
    node: Option<Arc<str>>,
    czxid: Option<u64>,
    /// Our node is known to be gone (or not ours to delete).
    node_gone: bool,
    lock: Option<LockInfo>,
    ended_at: Option<Millis>,
    step: Step,
    phase: Phase,
    purpose: Option<Purpose>,
    /// Cleanup: whether we deleted a node of ours; what is left to delete.
    deleted: bool,
    /// A delete of the current target got no answer (it may have run).
    delete_may_have_run: bool,
    cleanup_attempts: u32,
    delete_target: Option<Arc<str>>,
    to_delete: Vec<Arc<str>>,
    out: VecDeque<Output>,
}

#[allow(clippy::too_many_arguments)]
impl Engine {
    fn new(
        kind: Kind,
        config: &ZooKeeperConfig,
        now: Millis,
        path: &str,
        guid: &str,
        session: SessionId,
        session_timeout: u64,
        value: &str,
        timeout: Option<u64>,
        try_lock: bool,
    ) -> Result<Self, ConfigError> {
        let params = config.validate(session_timeout)?;
        check_start(now, session)?;
        check_path(path)?;
        check_guid(guid)?;
        check_data(value, kind == Kind::Election)?;
        check_timeout(timeout)?;
        let own_prefix = format!("{guid}-lock-");
        let mut engine = Engine {
            params,
            parent: Arc::from(path),
            create_path: Arc::from(format!("{path}/{own_prefix}")),
            own_prefix,
            data: Arc::from(value),
            try_lock,
            rng: SplitMix64::new(config.rng_seed),
            now,
            reqs: Requests::new(),
            watches: VecDeque::new(),
            watches_forgotten_below: 0,
            op_start: now,
            deadline: timeout.map(|t| now.plus(t)),
            failures: 0,
            stats: AcquireStats::default(),
            session,
            connected: true,
            valid_until: now.plus(params.window),
            period_start: now,
            warned: None,
            last_answer_at: now,
            check: Check::default(),
            node: None,
            czxid: None,
            node_gone: false,
            lock: None,
            ended_at: None,
            step: Step::Idle,
            phase: Phase::Acquiring,
            purpose: None,
            deleted: false,
            delete_may_have_run: false,
            cleanup_attempts: 0,
            delete_target: None,
            to_delete: Vec::new(),
            out: VecDeque::with_capacity(4),
        };
        engine.send(Tag::Create, None);
        Ok(engine)
    }

    fn state(&self) -> State {
        match self.phase {
            Phase::Acquiring if self.stats.queued => State::Waiting,
            Phase::Acquiring => State::Acquiring,
            Phase::Held => State::Held,
            Phase::Uncertain => State::Uncertain,
            Phase::Lost => State::Lost,
            Phase::Cleanup => State::Releasing,
            Phase::Released => State::Released,
            Phase::Failed => State::Failed,
        }
    }

    fn stats(&self) -> AcquireStats {
        AcquireStats {
            latency: self.now.since(self.op_start),
            ..self.stats
        }
    }

    /// Acquiring, waiting or holding: the session's validity matters.
    fn active(&self) -> bool {
        matches!(
            self.phase,
            Phase::Acquiring | Phase::Held | Phase::Uncertain
        )
    }

    /// The name of our node under the parent, once known.
    fn node_name(&self) -> Option<&str> {
        self.node
            .as_deref()
            .and_then(|p| p.get(self.parent.len() + 1..))
    }

    /// The child name `name` is one of ours: `<guid>-lock-<10 digits>`.
    fn is_ours(&self, name: &str) -> bool {
        name.len() == self.own_prefix.len() + 10
            && name.starts_with(&self.own_prefix)
            && contender_sequence(name).is_some()
    }

    fn child(&self, name: &str) -> Arc<str> {
        Arc::from(format!("{}/{name}", self.parent))
    }

    // ----- requests -----------------------------------------------------------

    /// Sends a request; `target` is the node for `Watch`, `Delete` and `Orphan`.
    fn send(&mut self, tag: Tag, target: Option<Arc<str>>) {
        let deadline = (tag != Tag::Orphan).then(|| self.now.plus(self.params.request_timeout));
        let req = self.reqs.issue(tag, self.now, deadline);
        let command = match self.build(tag, req, target) {
            Some(command) => command,
            None => {
                // Unreachable by construction (every tag is only sent once what it
                // needs is known); give the request up rather than panic.
                self.reqs.give_up(req);
                return;
            }
        };
        match tag {
            Tag::Check => self.check.in_flight = Some(req),
            Tag::Orphan => {}
            _ => self.step = Step::InFlight { req, tag },
        }
        if tag == Tag::Watch {
            self.watches.push_back((req.0, false));
            while self.watches.len() > MAX_GIVEN_UP {
                if let Some((old, _)) = self.watches.pop_front() {
                    self.watches_forgotten_below = old + 1;
                }
            }
        }
        self.out.push_back(Output::Command(command));
    }

    fn build(&self, tag: Tag, req: RequestId, target: Option<Arc<str>>) -> Option<Command> {
        Some(match tag {
            Tag::Create => Command::Create {
                req,
                path: self.create_path.clone(),
                data: self.data.clone(),
                mode: CreateMode::EphemeralSequential,
            },
            Tag::EnsurePath => Command::EnsurePath {
                req,
                path: self.parent.clone(),
            },
            Tag::List | Tag::Sweep => Command::GetChildren {
                req,
                path: self.parent.clone(),
            },
            Tag::Watch => Command::GetData {
                req,
                path: target?,
                watch: true,
            },
            Tag::Confirm | Tag::Check => Command::Exists {
                req,
                path: self.node.clone()?,
                watch: false,
            },
            Tag::Delete | Tag::Orphan => Command::Delete { req, path: target? },
        })
    }

    /// Drops the lock track's request, if any (a watch left behind is ignored
    /// when it fires).
    fn stop_step(&mut self) {
        if let Step::InFlight { req, .. } = self.step {
            self.reqs.give_up(req);
        }
        self.step = Step::Idle;
    }

    fn stop_check(&mut self) {
        if let Some(req) = self.check.in_flight.take() {
            self.reqs.give_up(req);
        }
        self.check.retry_at = None;
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    /// The watch of request `req` is the one the lock track waits on.
    fn is_current_watch(&self, req: RequestId) -> bool {
        match self.step {
            Step::InFlight {
                req: r,
                tag: Tag::Watch,
            }
            | Step::Watching { req: r, .. } => r == req,
            _ => false,
        }
    }

    // ----- replies ------------------------------------------------------------

    /// The server answered a request sent at `sent`: the session was alive then.
    fn refresh(&mut self, sent: Millis) {
        let until = sent.plus(self.params.window);
        if until > self.valid_until {
            self.valid_until = until;
            self.period_start = sent;
        }
        self.last_answer_at = self.now;
        self.check.retry_at = None;
        if matches!(self.phase, Phase::Held | Phase::Uncertain) {
            if let Some(lock) = self.lock.as_mut() {
                lock.valid_until = self.valid_until;
            }
        }
    }

    fn on_reply(&mut self, req: RequestId, reply: Reply) {
        let Some((tag, sent)) = self.reqs.answer(req) else {
            return; // given up: a late reply, ignored
        };
        if reply.is_server_answer() {
            self.refresh(sent);
        }
        match tag {
            Tag::Orphan => return,
            Tag::Check => self.check.in_flight = None,
            _ => {
                if matches!(self.step, Step::InFlight { req: r, .. } if r == req) {
                    self.step = Step::Idle;
                }
            }
        }
        if let Reply::Error {
            kind: ErrorKind::SessionExpired,
            message,
        } = reply
        {
            self.emit(Event::RequestError {
                req,
                kind: ErrorKind::SessionExpired,
                message,
            });
            self.session_gone();
            return;
        }
        let name = reply.name();
        let result = match tag {
            Tag::Create => self.on_create(reply),
            Tag::EnsurePath => self.on_ensure_path(reply),
            Tag::List => self.on_list(reply),
            Tag::Watch => self.on_watch_set(req, reply),
            Tag::Confirm => self.on_confirm(reply),
            Tag::Check => self.on_check(reply),
            Tag::Delete => self.on_delete(reply),
            Tag::Sweep => self.on_sweep(reply),
            Tag::Orphan => Ok(()),
        };
        if let Err((kind, message)) = result {
            let message = if message.is_empty() && kind == ErrorKind::Protocol {
                format!("unexpected reply to {}: {name}", tag.command())
            } else {
                message
            };
            self.on_failure(req, tag, kind, message);
        }
    }

    /// The reply as a failure: its error, or a protocol error for a wrong kind.
    fn unexpected(reply: Reply) -> Failure {
        match reply {
            Reply::Error { kind, message } => (kind, message),
            _ => (ErrorKind::Protocol, String::new()),
        }
    }

    /// Whether `stat` is our node's: owned by our session, same czxid as before.
    /// On a mismatch the lock is lost.
    fn stat_ok(&mut self, stat: Stat) -> Result<bool, Failure> {
        if stat.czxid.0 == 0 {
            return Err((ErrorKind::Protocol, String::from("stat with czxid 0")));
        }
        if stat.ephemeral_owner != self.session {
            self.lose(LostReason::OwnerMismatch);
            return Ok(false);
        }
        if self.czxid.is_some_and(|c| c != stat.czxid.0) {
            self.lose(LostReason::NodeDeleted);
            return Ok(false);
        }
        self.czxid = Some(stat.czxid.0);
        Ok(true)
    }

    fn adopt(&mut self, path: Arc<str>) {
        self.node = Some(path.clone());
        self.emit(Event::NodeCreated { path });
    }

    fn on_create(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Created { path, stat } => {
                let ours = path
                    .strip_prefix(&*self.parent)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|name| self.is_ours(name));
                if !ours {
                    return Err((
                        ErrorKind::Protocol,
                        format!(
                            "created {path:?}, not {}<10-digit sequence>",
                            self.create_path
                        ),
                    ));
                }
                self.failures = 0;
                self.adopt(Arc::from(path));
                if let Some(stat) = stat {
                    if !self.stat_ok(stat)? {
                        return Ok(());
                    }
                }
                self.send(Tag::List, None);
                Ok(())
            }
            // No parent: create it, then create our node again.
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.send(Tag::EnsurePath, None);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_ensure_path(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Ok
            | Reply::Error {
                kind: ErrorKind::NodeExists,
                ..
            } => {
                self.failures = 0;
                self.send(Tag::Create, None);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_list(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Children { children } => {
                self.on_children(&children);
                Ok(())
            }
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.failures = 0;
                if self.node.is_some() {
                    self.lose(LostReason::NodeDeleted);
                } else {
                    self.send(Tag::EnsurePath, None);
                }
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_children(&mut self, children: &[String]) {
        self.failures = 0;
        let mut contenders: Vec<(u64, &str)> = children
            .iter()
            .filter_map(|c| contender_sequence(c).map(|seq| (seq, c.as_str())))
            .collect();
        contenders.sort_unstable();
        let mine: Vec<&str> = contenders
            .iter()
            .map(|(_, name)| *name)
            .filter(|name| self.is_ours(name))
            .collect();
        let ours: String = match self.node_name() {
            Some(name) if mine.contains(&name) => String::from(name),
            Some(_) => {
                self.lose(LostReason::NodeDeleted);
                return;
            }
            None => match mine.first() {
                // The failed create did not happen: create again.
                None => {
                    self.send(Tag::Create, None);
                    return;
                }
                Some(first) => {
                    let path = self.child(first);
                    self.adopt(path);
                    String::from(*first)
                }
            },
        };
        for extra in mine.iter().filter(|name| **name != ours) {
            let path = self.child(extra);
            self.send(Tag::Orphan, Some(path));
        }
        let index = contenders
            .iter()
            .position(|(_, name)| *name == ours)
            .unwrap_or(0);
        if index == 0 {
            if self.czxid.is_some() {
                self.acquired();
            } else {
                self.send(Tag::Confirm, None);
            }
        } else if self.try_lock {
            self.stats.queued = true;
            self.give_up(AcquireFailure::Locked);
        } else {
            self.stats.queued = true;
            let predecessor = self.child(contenders[index - 1].1);
            self.send(Tag::Watch, Some(predecessor));
        }
    }

    fn on_watch_set(&mut self, req: RequestId, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Stat { .. } => {
                self.failures = 0;
                self.step = Step::Watching {
                    req,
                    recheck_at: self.now.plus(self.params.recheck),
                };
                Ok(())
            }
            // Gone before the watch was set (and getData leaves no watch behind).
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.failures = 0;
                self.send(Tag::List, None);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_confirm(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Stat { stat } => {
                self.failures = 0;
                if self.stat_ok(stat)? {
                    self.acquired();
                }
                Ok(())
            }
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.lose(LostReason::NodeDeleted);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_check(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Stat { stat } => {
                if self.stat_ok(stat)? && matches!(self.phase, Phase::Held | Phase::Uncertain) {
                    self.phase = Phase::Held;
                    let valid_until = self.valid_until;
                    self.emit(Event::Checked { valid_until });
                }
                Ok(())
            }
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.lose(LostReason::NodeDeleted);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_delete(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Ok => {
                self.deleted = true;
                self.next_delete();
                Ok(())
            }
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                // After an attempt whose reply was lost, the node being gone is
                // most likely that attempt's doing (ZooKeeper's recipes read it so).
                self.deleted |= self.delete_may_have_run;
                self.next_delete();
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_sweep(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Children { children } => {
                self.cleanup_attempts = 0;
                let mut mine: Vec<&String> =
                    children.iter().filter(|name| self.is_ours(name)).collect();
                mine.sort_unstable();
                self.to_delete = mine.into_iter().rev().map(|c| self.child(c)).collect();
                self.next_delete();
                Ok(())
            }
            Reply::Error {
                kind: ErrorKind::NoNode,
                ..
            } => {
                self.finish();
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_failure(&mut self, req: RequestId, tag: Tag, kind: ErrorKind, message: String) {
        self.emit(Event::RequestError { req, kind, message });
        match tag {
            Tag::Check => {
                if self.active() {
                    self.check.retry_at = Some(self.now.plus(self.params.retry.base_delay));
                }
            }
            // A create that failed may have happened: look for our guid.
            Tag::Create | Tag::List | Tag::Watch => self.retry(Tag::List),
            Tag::EnsurePath | Tag::Confirm => self.retry(tag),
            Tag::Delete | Tag::Sweep => {
                if tag == Tag::Delete && matches!(kind, ErrorKind::Connection | ErrorKind::Timeout)
                {
                    self.delete_may_have_run = true;
                }
                self.cleanup_retry(tag);
            }
            Tag::Orphan => {}
        }
    }

    /// A lock-track request failed: retry after the backoff delay, or give up.
    fn retry(&mut self, tag: Tag) {
        self.failures += 1;
        let next =
            self.params
                .retry
                .next_attempt(self.failures, self.now, self.deadline, &mut self.rng);
        let at = match next {
            NextAttempt::At(at) => at,
            NextAttempt::Exhausted => return self.give_up(AcquireFailure::AttemptsExhausted),
            NextAttempt::PastDeadline => return self.give_up(AcquireFailure::Deadline),
        };
        self.stats.retries += 1;
        self.step = Step::Scheduled { tag, at };
    }

    // ----- transitions --------------------------------------------------------

    fn acquired(&mut self) {
        let (Some(path), Some(czxid)) = (self.node.clone(), self.czxid) else {
            return;
        };
        let lock = LockInfo {
            path,
            token: FencingToken(czxid),
            session: self.session,
            acquired_at: self.now,
            valid_until: self.valid_until,
        };
        self.lock = Some(lock.clone());
        self.phase = Phase::Held;
        let stats = self.stats();
        self.emit(Event::Acquired { lock, stats });
    }

    fn lose(&mut self, reason: LostReason) {
        if !self.active() {
            return;
        }
        let end = match reason {
            LostReason::Expired => self.valid_until.min(self.now),
            _ => self.now,
        };
        self.stop_step();
        self.stop_check();
        if reason != LostReason::Expired {
            self.node_gone = true;
        }
        self.phase = Phase::Lost;
        self.ended_at = Some(end);
        let held_for = self.lock.as_ref().map(|l| end.since(l.acquired_at));
        self.emit(Event::Lost { reason, held_for });
        if self.lock.is_none() {
            // Lost before it was ever held: nobody will release a lock they never
            // got, so the machine deletes its node itself and ends the acquisition.
            self.start_cleanup(Purpose::GiveUp(AcquireFailure::Lost));
        }
    }

    /// The session ended: every ephemeral node of ours is gone.
    fn session_gone(&mut self) {
        match self.phase {
            Phase::Acquiring | Phase::Held | Phase::Uncertain => {
                self.lose(LostReason::SessionExpired);
            }
            Phase::Cleanup => {
                self.node_gone = true;
                self.stop_step();
                self.finish();
            }
            Phase::Lost => self.node_gone = true,
            Phase::Released | Phase::Failed => {}
        }
    }

    fn give_up(&mut self, reason: AcquireFailure) {
        self.start_cleanup(Purpose::GiveUp(reason));
    }

    fn start_cleanup(&mut self, purpose: Purpose) {
        self.stop_step();
        self.stop_check();
        self.phase = Phase::Cleanup;
        self.purpose = Some(purpose);
        self.deleted = false;
        self.cleanup_attempts = 0;
        self.to_delete.clear();
        if self.node_gone {
            self.finish();
        } else if let Some(node) = self.node.clone() {
            self.to_delete.push(node);
            self.next_delete();
        } else {
            self.send(Tag::Sweep, None);
        }
    }

    /// Deletes the next node of ours, or finishes.
    fn next_delete(&mut self) {
        self.cleanup_attempts = 0;
        self.delete_may_have_run = false;
        match self.to_delete.pop() {
            Some(target) => {
                self.delete_target = Some(target.clone());
                self.send(Tag::Delete, Some(target));
            }
            None => self.finish(),
        }
    }

    /// A cleanup request failed: retry it with the backoff, until the server
    /// answers or the session ends.
    fn cleanup_retry(&mut self, tag: Tag) {
        self.cleanup_attempts = self.cleanup_attempts.saturating_add(1);
        let delay = self
            .params
            .retry
            .delay(self.cleanup_attempts, &mut self.rng);
        self.step = Step::Scheduled {
            tag,
            at: self.now.plus(delay),
        };
    }

    fn finish(&mut self) {
        self.step = Step::Idle;
        self.stop_check();
        match self.purpose {
            Some(Purpose::Release { held_for }) => {
                let outcome = if self.deleted {
                    ReleaseOutcome::Released
                } else {
                    ReleaseOutcome::AlreadyExpired
                };
                self.phase = Phase::Released;
                self.emit(Event::Released { outcome, held_for });
            }
            Some(Purpose::GiveUp(reason)) => {
                self.phase = Phase::Failed;
                let stats = self.stats();
                self.emit(Event::AcquireFailed { reason, stats });
            }
            None => {}
        }
    }

    fn held_for(&self) -> u64 {
        let end = self.ended_at.unwrap_or(self.now);
        self.lock.as_ref().map_or(0, |l| end.since(l.acquired_at))
    }

    // ----- time ---------------------------------------------------------------

    fn advance(&mut self) {
        while self.advance_once() {}
    }

    fn advance_once(&mut self) -> bool {
        let now = self.now;
        if self.active() && self.valid_until <= now {
            self.lose(LostReason::Expired);
            return true;
        }
        let Some((at, timer)) = self.next_timer() else {
            return false;
        };
        if at > now {
            return false;
        }
        match timer {
            Timer::Deadline => self.give_up(AcquireFailure::Deadline),
            Timer::Request => {
                if let Some((req, tag)) = self.reqs.time_out(now) {
                    if tag == Tag::Check {
                        self.check.in_flight = None;
                    } else if matches!(self.step, Step::InFlight { req: r, .. } if r == req) {
                        self.step = Step::Idle;
                    }
                    let message = format!("no reply within {} ms", self.params.request_timeout);
                    self.on_failure(req, tag, ErrorKind::Timeout, message);
                }
            }
            Timer::Step => match self.step {
                Step::Scheduled { tag, .. } => {
                    self.step = Step::Idle;
                    let target = if tag == Tag::Delete {
                        self.delete_target.clone()
                    } else {
                        None
                    };
                    self.send(tag, target);
                }
                Step::Watching { .. } => {
                    self.step = Step::Idle;
                    self.send(Tag::List, None);
                }
                _ => {}
            },
            Timer::Warning => {
                self.warned = Some(self.period_start);
                let valid_until = self.valid_until;
                self.emit(Event::ExpiryWarning { valid_until });
            }
            Timer::Check => {
                self.check.retry_at = None;
                self.send(Tag::Check, None);
            }
        }
        true
    }

    /// The earliest timer (ties: deadline, request, step, warning, check).
    fn next_timer(&self) -> Option<(Millis, Timer)> {
        let mut best: Option<(Millis, Timer)> = None;
        let mut consider = |at: Option<Millis>, timer: Timer| keep_earliest(&mut best, at, timer);
        if self.phase == Phase::Acquiring {
            consider(self.deadline, Timer::Deadline);
        }
        consider(self.reqs.next_deadline(), Timer::Request);
        consider(
            match self.step {
                Step::Scheduled { at, .. } => Some(at),
                Step::Watching { recheck_at, .. } => Some(recheck_at),
                _ => None,
            },
            Timer::Step,
        );
        consider(self.warn_at(), Timer::Warning);
        consider(self.check_at(), Timer::Check);
        best
    }

    /// Whether a check of our node may go out now (besides its timer).
    fn check_eligible(&self) -> bool {
        if !self.connected || self.check.in_flight.is_some() || self.node.is_none() {
            return false;
        }
        match self.phase {
            Phase::Held | Phase::Uncertain => true,
            Phase::Acquiring => matches!(self.step, Step::Watching { .. }),
            _ => false,
        }
    }

    fn check_at(&self) -> Option<Millis> {
        self.check_eligible().then(|| {
            self.check
                .retry_at
                .unwrap_or_else(|| self.last_answer_at.plus(self.params.check_interval))
        })
    }

    /// 80 % of the session timeout into the current validity period, while held,
    /// unless already warned (or past the end of validity).
    fn warn_at(&self) -> Option<Millis> {
        if !matches!(self.phase, Phase::Held | Phase::Uncertain) {
            return None;
        }
        let at = self.period_start.plus(self.params.session_timeout * 4 / 5);
        (self.warned != Some(self.period_start) && at < self.valid_until).then_some(at)
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let timer = self.next_timer().map(|(at, _)| at);
        let expiry = self.active().then_some(self.valid_until);
        earliest(timer, expiry)
    }

    // ----- inputs -------------------------------------------------------------

    /// Rejects a watch notification for a request that set no watch, or one that
    /// already fired.
    fn check_watch(&self, req: RequestId) -> Result<(), UsageError> {
        self.reqs.check_issued(req)?;
        match self.watches.iter().find(|(r, _)| *r == req.0) {
            Some((_, true)) => Err(UsageError::DuplicateReply { req }),
            Some((_, false)) => Ok(()),
            None if req.0 < self.watches_forgotten_below => Ok(()),
            None => Err(UsageError::UnknownRequest { req }),
        }
    }

    fn on_watch_fired(&mut self, req: RequestId) {
        if let Some(slot) = self.watches.iter_mut().find(|(r, _)| *r == req.0) {
            slot.1 = true;
        }
        if self.phase == Phase::Acquiring && self.is_current_watch(req) {
            // The get_data reply may still be on its way: it is ignored.
            self.stop_step();
            self.send(Tag::List, None);
        }
    }

    fn handle_input(&mut self, input: Input) -> Result<(), UsageError> {
        let now = input.now();
        now.check_input(self.now)?;
        match input {
            Input::Reply { req, result, .. } => {
                self.reqs.check(req)?;
                self.now = now;
                self.advance();
                self.on_reply(req, result);
            }
            Input::Watch { req, .. } => {
                self.check_watch(req)?;
                self.now = now;
                self.advance();
                self.on_watch_fired(req);
            }
            Input::Timeout { .. } => self.now = now,
            Input::Disconnected { .. } => {
                self.now = now;
                self.advance();
                self.connected = false;
                if self.phase == Phase::Held {
                    self.phase = Phase::Uncertain;
                    let valid_until = self.valid_until;
                    self.emit(Event::Uncertain { valid_until });
                }
            }
            Input::Connected { session, .. } => {
                if session.0 == 0 {
                    return Err(UsageError::InvalidSession);
                }
                self.now = now;
                self.advance();
                if session != self.session {
                    self.session_gone();
                } else {
                    let was_connected = self.connected;
                    self.connected = true;
                    if !was_connected && self.check_eligible() {
                        self.check.retry_at = None;
                        self.send(Tag::Check, None);
                    }
                    if !was_connected
                        && self.phase == Phase::Acquiring
                        && matches!(self.step, Step::Watching { .. })
                    {
                        // A watch may not survive a lost connection (clients such
                        // as kazoo do not set it again): list the children again.
                        self.stop_step();
                        self.send(Tag::List, None);
                    }
                }
            }
            Input::SessionExpired { .. } => {
                self.now = now;
                self.advance();
                self.session_gone();
            }
            Input::Release { .. } => {
                if let state @ (State::Releasing | State::Released | State::Failed) = self.state() {
                    return Err(UsageError::InvalidState {
                        input: "release",
                        state: state.name(),
                    });
                }
                self.now = now;
                self.advance();
                match self.phase {
                    Phase::Acquiring => self.give_up(AcquireFailure::Cancelled),
                    Phase::Held | Phase::Uncertain | Phase::Lost => {
                        let held_for = self.held_for();
                        self.start_cleanup(Purpose::Release { held_for });
                    }
                    _ => {}
                }
            }
        }
        self.advance();
        Ok(())
    }
}

macro_rules! zk_machine {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(Engine);

        impl $name {
            /// The machine's state.
            #[must_use]
            pub fn state(&self) -> State {
                self.0.state()
            }

            /// The lock, once acquired (kept after loss and release; its
            /// `valid_until` moves on with every server answer while held).
            #[must_use]
            pub fn lock(&self) -> Option<&LockInfo> {
                self.0.lock.as_ref()
            }

            /// Our node's full path, once known.
            #[must_use]
            pub fn node(&self) -> Option<&str> {
                self.0.node.as_deref()
            }

            /// The session the machine works in.
            #[must_use]
            pub fn session(&self) -> SessionId {
                self.0.session
            }

            /// End of the session's validity as the machine counts it.
            #[must_use]
            pub fn valid_until(&self) -> Millis {
                self.0.valid_until
            }

            /// Milliseconds of validity left at `now`: zero unless the lock is held.
            #[must_use]
            pub fn remaining(&self, now: Millis) -> u64 {
                match self.0.phase {
                    Phase::Held => self.0.valid_until.since(now),
                    _ => 0,
                }
            }

            /// Acquisition statistics so far.
            #[must_use]
            pub fn stats(&self) -> AcquireStats {
                self.0.stats()
            }

            /// Numbers derived from the configuration and the session timeout.
            #[must_use]
            pub fn params(&self) -> &Params {
                &self.0.params
            }
        }

        impl Machine for $name {
            type Input = Input;
            type Output = Output;

            fn handle_input(&mut self, input: Input) -> Result<(), UsageError> {
                self.0.handle_input(input)
            }

            fn poll_output(&mut self) -> Option<Output> {
                self.0.out.pop_front()
            }

            fn poll_timeout(&self) -> Option<Millis> {
                self.0.poll_timeout()
            }
        }
    };
}

zk_machine!(
    /// A ZooKeeper lock (the ephemeral-sequential recipe): the lowest node under the
    /// lock path holds it; the fencing token is our node's czxid.
    ///
    /// Built with [`Lock::new`], which sends the create. Drive it with the
    /// [`Machine`] methods; see the [module docs](super) for every transition.
    Lock
);

zk_machine!(
    /// A ZooKeeper leader election on the same recipe: elected means our node is the
    /// lowest and owned by our session (checked before `acquired`, as Curator's
    /// `LeaderLatch` does since CURATOR-696). Our node's data is our value, so
    /// anyone can read the leader's identity from the lowest node.
    ///
    /// Built with [`Election::new`]; `acquired` means elected, [`Input::Release`]
    /// resigns.
    Election
);

impl Lock {
    /// Validates `config` and `args`, then sends the create at `args.now`.
    pub fn new(config: &ZooKeeperConfig, args: LockArgs) -> Result<Self, ConfigError> {
        Engine::new(
            Kind::Lock,
            config,
            args.now,
            &args.path,
            &args.guid,
            args.session,
            args.session_timeout,
            &args.value,
            args.timeout,
            args.try_lock,
        )
        .map(Lock)
    }

    /// The machine's name in vectors and errors.
    pub const MACHINE: &'static str = "zookeeper_lock";
}

impl Election {
    /// Validates `config` and `args`, then sends the create at `args.now`.
    pub fn new(config: &ZooKeeperConfig, args: ElectionArgs) -> Result<Self, ConfigError> {
        Engine::new(
            Kind::Election,
            config,
            args.now,
            &args.path,
            &args.guid,
            args.session,
            args.session_timeout,
            &args.value,
            args.timeout,
            false,
        )
        .map(Election)
    }

    /// Our value (our node's data).
    #[must_use]
    pub fn value(&self) -> &str {
        &self.0.data
    }

    /// The machine's name in vectors and errors.
    pub const MACHINE: &'static str = "zookeeper_election";
}
