//! The advisory-lock engine: one name, one pinned session, from the first
//! `try_lock` to the unlock.

use alloc::borrow::Cow;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::config::{check_args, AdvisoryConfig, LockArgs, Params, CLEANUP_ATTEMPTS};
use super::protocol::{
    AcquireFailure, AcquireStats, Command, ErrorKind, Event, Input, LockInfo, LostReason, Output,
    ReleaseOutcome, Reply, SqlValue, State, Statement,
};
use crate::backoff::NextAttempt;
use crate::backoff::SplitMix64;
use crate::error::{ConfigError, UsageError};
use crate::fence::FencingToken;
use crate::pending::Requests;
use crate::types::{keep_earliest, Millis, RequestId, MAX_TIME};
use crate::Machine;

/// The statement track: at most one statement (or one scheduled statement) at a
/// time (a session runs one statement at a time anyway).
#[derive(Clone, Copy, Debug)]
enum Step {
    Idle,
    InFlight {
        req: RequestId,
        statement: Statement,
    },
    Scheduled {
        statement: Statement,
        at: Millis,
    },
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
    Lost(LostReason),
    Cleanup,
    Released,
    Failed,
}

/// What a failed statement reports: kind, SQLSTATE, message.
type Failure = (ErrorKind, String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Deadline,
    Request,
    Step,
}

/// A PostgreSQL advisory lock on one name, with a fencing token from the
/// `fencelock_fence` counter.
///
/// Built with [`Lock::new`], which sends the first `try_lock`. Drive it with the
/// [`Machine`] methods; see the [module docs](super) for every transition.
#[derive(Clone, Debug)]
pub struct Lock {
    params: Params,
    name: Arc<str>,
    name_param: Arc<[SqlValue]>,
    try_lock: bool,
    rng: SplitMix64,
    now: Millis,
    reqs: Requests<Statement>,
    op_start: Millis,
    deadline: Option<Millis>,
    /// `try_lock` statements sent.
    attempts: u32,
    /// Answered `busy`.
    contended: u32,
    /// Consecutive failed statements.
    failures: u32,
    /// The backend the session runs on, from the first row.
    pid: Option<u32>,
    /// The session may hold the lock (a `try_lock` said `locked`, or went
    /// unanswered): giving up must unlock.
    maybe_locked: bool,
    /// A `try_lock` went unanswered: a later `held` is that attempt's lock.
    ambiguous: bool,
    lock: Option<LockInfo>,
    ended_at: Option<Millis>,
    step: Step,
    phase: Phase,
    purpose: Option<Purpose>,
    unlock_attempts: u32,
    /// An unlock went unanswered: a later `not_held` may be its doing.
    unlock_ambiguous: bool,
    out: VecDeque<Output>,
}

impl Lock {
    /// The machine's name in vectors and errors.
    pub const MACHINE: &'static str = "advisory_lock";

    /// Validates `config` and `args`, then sends the first `try_lock` at `args.now`.
    pub fn new(config: &AdvisoryConfig, args: LockArgs) -> Result<Self, ConfigError> {
        let params = config.validate()?;
        check_args(&args)?;
        let name: Arc<str> = Arc::from(args.name);
        let mut lock = Lock {
            params,
            name_param: Arc::from([SqlValue::Text(String::from(&*name))]),
            name,
            try_lock: args.try_lock,
            rng: SplitMix64::new(config.rng_seed),
            now: args.now,
            reqs: Requests::new(),
            op_start: args.now,
            deadline: args.timeout.map(|t| args.now.plus(t)),
            attempts: 0,
            contended: 0,
            failures: 0,
            pid: None,
            maybe_locked: false,
            ambiguous: false,
            lock: None,
            ended_at: None,
            step: Step::Idle,
            phase: Phase::Acquiring,
            purpose: None,
            unlock_attempts: 0,
            unlock_ambiguous: false,
            out: VecDeque::with_capacity(4),
        };
        lock.send(Statement::TryLock);
        Ok(lock)
    }

    /// The machine's state.
    #[must_use]
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Acquiring if self.contended > 0 => State::Waiting,
            Phase::Acquiring => State::Acquiring,
            Phase::Held => State::Held,
            Phase::Uncertain => State::Uncertain,
            Phase::Lost(_) => State::Lost,
            Phase::Cleanup => State::Releasing,
            Phase::Released => State::Released,
            Phase::Failed => State::Failed,
        }
    }

    /// The lock, once acquired (kept after loss and release).
    #[must_use]
    pub fn lock(&self) -> Option<&LockInfo> {
        self.lock.as_ref()
    }

    /// The backend pid of the pinned session, once a statement answered.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The lock name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Acquisition statistics so far.
    #[must_use]
    pub fn stats(&self) -> AcquireStats {
        AcquireStats {
            latency: self.now.since(self.op_start),
            attempts: self.attempts,
            contended: self.contended,
        }
    }

    /// Numbers derived from the configuration.
    #[must_use]
    pub fn params(&self) -> &Params {
        &self.params
    }

    // ----- statements ---------------------------------------------------------

    fn send(&mut self, statement: Statement) {
        let deadline = self.now.plus(self.params.request_timeout);
        let req = self.reqs.issue(statement, self.now, Some(deadline));
        let params = match statement {
            Statement::Unlock => Arc::from([
                SqlValue::Text(String::from(&*self.name)),
                SqlValue::Int(i64::from(self.pid.unwrap_or(0))),
            ]),
            Statement::Setup => Arc::from([]),
            _ => self.name_param.clone(),
        };
        if statement == Statement::TryLock {
            self.attempts += 1;
        }
        self.step = Step::InFlight { req, statement };
        self.out.push_back(Output::Command(Command::Query {
            req,
            statement,
            sql: Cow::Borrowed(statement.sql()),
            params,
        }));
    }

    /// Drops the statement in flight (its late result is ignored) or scheduled.
    fn stop_step(&mut self) {
        if let Step::InFlight { req, statement } = self.step {
            self.reqs.give_up(req);
            if statement == Statement::TryLock {
                // It may still take the lock when it runs.
                self.maybe_locked = true;
                self.ambiguous = true;
            }
        }
        self.step = Step::Idle;
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    // ----- results ------------------------------------------------------------

    fn on_reply(&mut self, req: RequestId, reply: Reply) {
        let Some((statement, _)) = self.reqs.answer(req) else {
            return; // given up: a late result, ignored
        };
        if matches!(self.step, Step::InFlight { req: r, .. } if r == req) {
            self.step = Step::Idle;
        }
        if let Reply::Error {
            kind: ErrorKind::Connection,
            code,
            message,
        } = reply
        {
            self.emit(Event::RequestError {
                req,
                kind: ErrorKind::Connection,
                code,
                message,
            });
            self.session_lost();
            return;
        }
        let name = reply.name();
        let result = match statement {
            Statement::TryLock => self.on_try_lock(reply),
            Statement::Fence => self.on_fence(reply),
            Statement::Setup => self.on_setup(reply),
            Statement::Check => self.on_check(reply),
            Statement::Unlock => self.on_unlock(reply),
        };
        if let Err((kind, code, message)) = result {
            let message = if message.is_empty() && kind == ErrorKind::Protocol {
                format!("unexpected result of {}: {name}", statement.name())
            } else {
                message
            };
            self.on_failure(req, statement, kind, code, message);
        }
    }

    /// The reply as a failure: its error, or a protocol error for a wrong shape.
    fn unexpected(reply: Reply) -> Failure {
        match reply {
            Reply::Error {
                kind,
                code,
                message,
            } => (kind, code, message),
            _ => (ErrorKind::Protocol, String::new(), String::new()),
        }
    }

    /// Splits a row `(value, pid)`; checks the pid against the session's.
    /// `Ok(None)`: the pid differs (the machine has moved on).
    fn row(&mut self, reply: Reply) -> Result<Option<SqlValue>, Failure> {
        let Reply::Row { values } = reply else {
            return Err(Self::unexpected(reply));
        };
        let mut values = values.into_iter();
        let (Some(value), Some(pid), None) = (values.next(), values.next(), values.next()) else {
            return Err((
                ErrorKind::Protocol,
                String::new(),
                String::from("expected a row of two columns (value, pg_backend_pid())"),
            ));
        };
        let pid = pid
            .as_int()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0 && *p <= i32::MAX as u32)
            .ok_or_else(|| {
                (
                    ErrorKind::Protocol,
                    String::new(),
                    String::from("the last column is not a backend pid"),
                )
            })?;
        match self.pid {
            None => self.pid = Some(pid),
            Some(ours) if ours != pid => {
                self.not_pinned();
                return Ok(None);
            }
            Some(_) => {}
        }
        Ok(Some(value))
    }

    fn bad_value(statement: Statement) -> Failure {
        (
            ErrorKind::Protocol,
            String::new(),
            format!(
                "unexpected first column in the result of {}",
                statement.name()
            ),
        )
    }

    fn on_try_lock(&mut self, reply: Reply) -> Result<(), Failure> {
        let Some(value) = self.row(reply)? else {
            return Ok(());
        };
        let SqlValue::Text(answer) = value else {
            return Err(Self::bad_value(Statement::TryLock));
        };
        match answer.as_str() {
            "locked" => self.locked(),
            // Our own earlier attempt took it, or somebody else on this session did.
            "held" if self.ambiguous => self.locked(),
            "held" => self.fail_now(AcquireFailure::AlreadyHeld),
            "busy" => self.busy(),
            _ => return Err(Self::bad_value(Statement::TryLock)),
        }
        Ok(())
    }

    fn locked(&mut self) {
        self.failures = 0;
        self.maybe_locked = true;
        self.send(Statement::Fence);
    }

    fn busy(&mut self) {
        self.failures = 0;
        self.contended += 1;
        // A busy lock is not ours: no earlier attempt of ours took it.
        self.maybe_locked = false;
        self.ambiguous = false;
        if self.try_lock {
            self.fail_now(AcquireFailure::Locked);
            return;
        }
        let next =
            self.params
                .retry
                .next_attempt(self.attempts, self.now, self.deadline, &mut self.rng);
        let at = match next {
            NextAttempt::At(at) => at,
            NextAttempt::Exhausted => return self.fail_now(AcquireFailure::AttemptsExhausted),
            NextAttempt::PastDeadline => return self.fail_now(AcquireFailure::Deadline),
        };
        self.emit(Event::Busy {
            attempt: self.attempts,
            retry_at: at,
        });
        self.step = Step::Scheduled {
            statement: Statement::TryLock,
            at,
        };
    }

    fn on_fence(&mut self, reply: Reply) -> Result<(), Failure> {
        if let Reply::Error {
            kind: ErrorKind::Server,
            code,
            ..
        } = &reply
        {
            if code == "42P01" {
                // undefined_table: create it, then bump again.
                self.send(Statement::Setup);
                return Ok(());
            }
        }
        let Some(value) = self.row(reply)? else {
            return Ok(());
        };
        let token = value
            .as_int()
            .filter(|t| *t >= 1 && t.unsigned_abs() <= MAX_TIME)
            .ok_or_else(|| Self::bad_value(Statement::Fence))?;
        self.acquired(FencingToken(token.unsigned_abs()));
        Ok(())
    }

    fn on_setup(&mut self, reply: Reply) -> Result<(), Failure> {
        match reply {
            Reply::Done | Reply::Row { .. } => {
                self.send(Statement::Fence);
                Ok(())
            }
            other => Err(Self::unexpected(other)),
        }
    }

    fn on_check(&mut self, reply: Reply) -> Result<(), Failure> {
        let Some(value) = self.row(reply)? else {
            return Ok(());
        };
        match value {
            SqlValue::Bool(true) => {
                self.failures = 0;
                self.phase = Phase::Held;
                self.emit(Event::Checked);
                self.schedule_check(self.params.check_interval);
                Ok(())
            }
            SqlValue::Bool(false) => {
                self.lose(LostReason::NotHeld);
                Ok(())
            }
            _ => Err(Self::bad_value(Statement::Check)),
        }
    }

    fn on_unlock(&mut self, reply: Reply) -> Result<(), Failure> {
        let Reply::Row { values } = &reply else {
            return Err(Self::unexpected(reply));
        };
        let outcome = match values.first() {
            Some(SqlValue::Text(t)) if t == "unlocked" => ReleaseOutcome::Released,
            Some(SqlValue::Text(t)) if t == "not_held" && self.unlock_ambiguous => {
                ReleaseOutcome::Released
            }
            Some(SqlValue::Text(t)) if t == "not_held" => ReleaseOutcome::NotHeld,
            Some(SqlValue::Null) => ReleaseOutcome::SessionNotPinned,
            _ => return Err(Self::bad_value(Statement::Unlock)),
        };
        if values.len() != 2 {
            return Err(Self::bad_value(Statement::Unlock));
        }
        self.finish(outcome);
        Ok(())
    }

    fn on_failure(
        &mut self,
        req: RequestId,
        statement: Statement,
        kind: ErrorKind,
        code: String,
        message: String,
    ) {
        self.emit(Event::RequestError {
            req,
            kind,
            code,
            message,
        });
        match statement {
            Statement::TryLock => {
                // It may have run and taken the lock.
                self.maybe_locked = true;
                self.ambiguous = true;
                self.retry(Statement::TryLock);
            }
            Statement::Fence | Statement::Setup => self.retry(Statement::Fence),
            Statement::Check => {
                if self.phase == Phase::Held {
                    self.phase = Phase::Uncertain;
                    self.emit(Event::Uncertain);
                }
                self.schedule_check(self.params.retry.base_delay);
            }
            Statement::Unlock => {
                if kind == ErrorKind::Timeout {
                    self.unlock_ambiguous = true;
                }
                self.unlock_attempts += 1;
                if self.unlock_attempts < CLEANUP_ATTEMPTS {
                    let delay = self.params.retry.delay(self.unlock_attempts, &mut self.rng);
                    self.step = Step::Scheduled {
                        statement: Statement::Unlock,
                        at: self.now.plus(delay),
                    };
                } else {
                    self.finish(ReleaseOutcome::Unconfirmed);
                }
            }
        }
    }

    /// A statement of the acquisition failed: retry after the backoff, or give up.
    fn retry(&mut self, statement: Statement) {
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
        self.step = Step::Scheduled { statement, at };
    }

    fn schedule_check(&mut self, after: u64) {
        self.step = Step::Scheduled {
            statement: Statement::Check,
            at: self.now.plus(after),
        };
    }

    // ----- transitions --------------------------------------------------------

    fn acquired(&mut self, token: FencingToken) {
        let Some(pid) = self.pid else {
            return;
        };
        let lock = LockInfo {
            name: self.name.clone(),
            token,
            pid,
            acquired_at: self.now,
        };
        self.lock = Some(lock.clone());
        self.phase = Phase::Held;
        let stats = self.stats();
        self.emit(Event::Acquired { lock, stats });
        self.schedule_check(self.params.check_interval);
    }

    fn held_for(&self) -> u64 {
        let end = self.ended_at.unwrap_or(self.now);
        self.lock.as_ref().map_or(0, |l| end.since(l.acquired_at))
    }

    fn lose(&mut self, reason: LostReason) {
        self.stop_step();
        self.ended_at = Some(self.now);
        self.phase = Phase::Lost(reason);
        let held_for = self.held_for();
        self.emit(Event::Lost { reason, held_for });
    }

    /// Two statements ran on different backends.
    fn not_pinned(&mut self) {
        match self.phase {
            Phase::Acquiring => self.fail_now(AcquireFailure::SessionNotPinned),
            Phase::Held | Phase::Uncertain => self.lose(LostReason::SessionNotPinned),
            Phase::Cleanup => self.finish(ReleaseOutcome::SessionNotPinned),
            _ => {}
        }
    }

    /// The session is gone, and every lock it held with it.
    fn session_lost(&mut self) {
        match self.phase {
            Phase::Acquiring => self.fail_now(AcquireFailure::SessionLost),
            Phase::Held | Phase::Uncertain => self.lose(LostReason::SessionLost),
            Phase::Cleanup => {
                self.stop_step();
                self.finish(ReleaseOutcome::SessionLost);
            }
            Phase::Lost(_) => self.phase = Phase::Lost(LostReason::SessionLost),
            Phase::Released | Phase::Failed => {}
        }
    }

    /// Ends the acquisition without any further statement.
    fn fail_now(&mut self, reason: AcquireFailure) {
        self.stop_step();
        self.phase = Phase::Failed;
        let stats = self.stats();
        self.emit(Event::AcquireFailed { reason, stats });
    }

    /// Ends the acquisition, unlocking first if the session may hold the lock.
    fn give_up(&mut self, reason: AcquireFailure) {
        self.stop_step();
        if self.maybe_locked {
            self.purpose = Some(Purpose::GiveUp(reason));
            self.phase = Phase::Cleanup;
            self.unlock_attempts = 0;
            self.send(Statement::Unlock);
        } else {
            self.fail_now(reason);
        }
    }

    fn release(&mut self) {
        match self.phase {
            Phase::Acquiring => self.give_up(AcquireFailure::Cancelled),
            Phase::Held | Phase::Uncertain => {
                self.stop_step();
                self.purpose = Some(Purpose::Release {
                    held_for: self.held_for(),
                });
                self.phase = Phase::Cleanup;
                self.unlock_attempts = 0;
                self.send(Statement::Unlock);
            }
            Phase::Lost(reason) => {
                self.purpose = Some(Purpose::Release {
                    held_for: self.held_for(),
                });
                let outcome = match reason {
                    LostReason::SessionLost => ReleaseOutcome::SessionLost,
                    LostReason::NotHeld => ReleaseOutcome::NotHeld,
                    LostReason::SessionNotPinned => ReleaseOutcome::SessionNotPinned,
                };
                self.finish(outcome);
            }
            _ => {}
        }
    }

    fn finish(&mut self, outcome: ReleaseOutcome) {
        self.stop_step();
        match self.purpose {
            Some(Purpose::Release { held_for }) => {
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

    // ----- time ---------------------------------------------------------------

    fn advance(&mut self) {
        while self.advance_once() {}
    }

    fn advance_once(&mut self) -> bool {
        let now = self.now;
        let Some((at, timer)) = self.next_timer() else {
            return false;
        };
        if at > now {
            return false;
        }
        match timer {
            Timer::Deadline => self.give_up(AcquireFailure::Deadline),
            Timer::Request => {
                if let Some((req, statement)) = self.reqs.time_out(now) {
                    if matches!(self.step, Step::InFlight { req: r, .. } if r == req) {
                        self.step = Step::Idle;
                    }
                    let message = format!("no result within {} ms", self.params.request_timeout);
                    self.on_failure(req, statement, ErrorKind::Timeout, String::new(), message);
                }
            }
            Timer::Step => {
                if let Step::Scheduled { statement, .. } = self.step {
                    self.step = Step::Idle;
                    self.send(statement);
                }
            }
        }
        true
    }

    /// The earliest timer (ties: deadline, request, step).
    fn next_timer(&self) -> Option<(Millis, Timer)> {
        let mut best: Option<(Millis, Timer)> = None;
        let mut consider = |at: Option<Millis>, timer: Timer| keep_earliest(&mut best, at, timer);
        if self.phase == Phase::Acquiring {
            consider(self.deadline, Timer::Deadline);
        }
        consider(self.reqs.next_deadline(), Timer::Request);
        if let Step::Scheduled { at, .. } = self.step {
            consider(Some(at), Timer::Step);
        }
        best
    }
}

impl Machine for Lock {
    type Input = Input;
    type Output = Output;

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
            Input::SessionLost { .. } => {
                self.now = now;
                self.advance();
                self.session_lost();
            }
            Input::Timeout { .. } => self.now = now,
            Input::Release { .. } => {
                if let state @ (State::Releasing | State::Released | State::Failed) = self.state() {
                    return Err(UsageError::InvalidState {
                        input: "release",
                        state: state.name(),
                    });
                }
                self.now = now;
                self.advance();
                self.release();
            }
        }
        self.advance();
        Ok(())
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.next_timer().map(|(at, _)| at)
    }
}
