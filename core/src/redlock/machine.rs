//! The Redlock state machine: one lease, from the first acquisition attempt to
//! its release.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::config::{
    check_start_time, check_timeout, Params, RedlockConfig, MAX_RESOURCES, MAX_RESOURCE_LEN,
    MAX_VALUE_LEN,
};
use super::protocol::{
    AcquireFailure, AcquireStats, AttemptFailure, Command, Eval, Event, ExtendFailure, Input,
    Lease, LostReason, NodeErrorKind, NodeReply, Output, ReleaseOutcome, State,
};
use super::scripts::Script;
use crate::backoff::NextAttempt;
use crate::backoff::SplitMix64;
use crate::error::{ConfigError, UsageError};
use crate::fence::FencingToken;
use crate::pending::Requests;
use crate::types::{earliest, is_printable, Millis, NodeId, RequestId};
use crate::Machine;

/// What a host passes to start an acquisition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct AcquireArgs {
    /// Current time; the first attempt starts now.
    pub now: Millis,
    /// Resources to lock together (sorted by the machine; duplicates rejected).
    pub resources: Vec<String>,
    /// Unique value for this lease: 128 random bits from the host's CSPRNG, e.g.
    /// [`crate::lock_value_from_random`].
    pub value: String,
    /// Give up acquiring after this many ms (`null`: only the retry policy limits it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeout: Option<u64>,
}

impl AcquireArgs {
    /// Arguments for locking `resources` with `value`, starting at `now`, no deadline.
    #[must_use]
    pub fn new(now: Millis, resources: Vec<String>, value: String) -> Self {
        AcquireArgs {
            now,
            resources,
            value,
            timeout: None,
        }
    }

    /// The same arguments with an acquire deadline `timeout` ms from now.
    #[must_use]
    pub fn with_timeout(mut self, timeout: u64) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A node's answer to the acquire script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeVote {
    Unknown,
    Granted(u64),
    Conflict,
}

#[derive(Clone, Copy, Debug)]
struct FenceRound {
    token: u64,
    confirmed: u16,
    awaiting: u16,
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    number: u32,
    start: Millis,
    valid_until: Millis,
    granted: u16,
    conflicts: u16,
    errors: u16,
    met_holder: bool,
    fence: Option<FenceRound>,
}

#[derive(Clone, Copy, Debug)]
struct ExtendRound {
    start: Millis,
    confirmed: u16,
    rejected: u16,
    errors: u16,
}

#[derive(Clone, Copy, Debug)]
struct Hold {
    valid_until: Millis,
    lost_at: Millis,
    warn_at: Option<Millis>,
    extend_at: Option<Millis>,
    round: Option<ExtendRound>,
}

#[derive(Clone, Copy, Debug)]
struct ReleaseRound {
    held_for: u64,
    released: u16,
    not_held: u16,
    held_by_other: u16,
    errors: u16,
    awaiting: u16,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Acquiring(Attempt),
    Retrying { at: Millis },
    Held(Hold),
    Lost,
    Releasing(ReleaseRound),
    Released,
    Failed,
}

/// A Redlock lease over N independent Redis masters, as a sans-IO state machine.
///
/// Built with [`Redlock::new`], which starts the first attempt. Drive it with the
/// [`Machine`] methods: after every [`Machine::handle_input`], drain
/// [`Machine::poll_output`] until `None` (perform each [`Command`], report each
/// [`Event`]), then arm one timer for [`Machine::poll_timeout`].
///
/// Getters ([`Redlock::state`], [`Redlock::lease`], ...) never change the machine.
#[derive(Clone, Debug)]
pub struct Redlock {
    params: Params,
    lock_keys: Arc<[String]>,
    acquire_keys: Arc<[String]>,
    /// Arguments of the current attempt's scripts (its value, the TTL, the count).
    acquire_args: Arc<[String]>,
    extend_args: Arc<[String]>,
    release_args: Arc<[String]>,
    resource_count: i64,
    /// The host's value; attempt `n > 1` writes `"<base_value>.<n>"`.
    base_value: String,
    /// The value the current attempt writes (and the lease holds).
    value: Arc<str>,
    resources: Arc<[String]>,
    rng: SplitMix64,
    now: Millis,
    /// Outstanding requests, tagged with their node.
    reqs: Requests<u16>,
    votes: Vec<NodeVote>,
    op_start: Millis,
    deadline: Option<Millis>,
    attempts: u32,
    contended: u32,
    lease: Option<Lease>,
    /// When the hold ended, once the lease was lost.
    ended_at: Option<Millis>,
    phase: Phase,
    out: VecDeque<Output>,
}

impl Redlock {
    /// Validates `config` and `args`, then starts the first attempt at `args.now`:
    /// one acquire command per node, in node order.
    pub fn new(config: &RedlockConfig, args: AcquireArgs) -> Result<Self, ConfigError> {
        let params = config.validate()?;
        check_start_time(args.now)?;
        let resources = check_resources(args.resources)?;
        check_value(&args.value)?;
        check_timeout(args.timeout)?;
        let ns = &config.namespace;
        let lock_keys: Vec<String> = resources
            .iter()
            .map(|r| format!("{ns}:lock:{{{r}}}"))
            .collect();
        let mut acquire_keys = lock_keys.clone();
        if params.fencing {
            acquire_keys.extend(resources.iter().map(|r| format!("{ns}:fence:{{{r}}}")));
        }
        let mut machine = Redlock {
            params,
            lock_keys: lock_keys.into(),
            acquire_keys: acquire_keys.into(),
            acquire_args: Arc::from([]),
            extend_args: Arc::from([]),
            release_args: Arc::from([]),
            resource_count: resources.len() as i64,
            value: Arc::from(args.value.as_str()),
            base_value: args.value,
            resources: resources.into(),
            rng: SplitMix64::new(config.rng_seed),
            now: args.now,
            reqs: Requests::new(),
            votes: alloc::vec![NodeVote::Unknown; usize::from(params.nodes)],
            op_start: args.now,
            deadline: args.timeout.map(|t| args.now.plus(t)),
            attempts: 0,
            contended: 0,
            lease: None,
            ended_at: None,
            phase: Phase::Failed,
            out: VecDeque::with_capacity(usize::from(params.nodes) * 2 + 2),
        };
        machine.start_attempt();
        Ok(machine)
    }

    /// The machine's state.
    #[must_use]
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Acquiring(_) => State::Acquiring,
            Phase::Retrying { .. } => State::Retrying,
            Phase::Held(hold) if hold.round.is_some() => State::Extending,
            Phase::Held(_) => State::Held,
            Phase::Lost => State::Lost,
            Phase::Releasing(_) => State::Releasing,
            Phase::Released => State::Released,
            Phase::Failed => State::Failed,
        }
    }

    /// The lease, once acquired (kept after loss and release, with its last validity).
    #[must_use]
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Milliseconds of validity left at `now`: zero unless the lease is held.
    #[must_use]
    pub fn remaining(&self, now: Millis) -> u64 {
        match &self.phase {
            Phase::Held(hold) => hold.valid_until.since(now),
            _ => 0,
        }
    }

    /// Numbers derived from the configuration (quorum, drift, node timeout, ...).
    #[must_use]
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Resources this machine locks, sorted.
    #[must_use]
    pub fn resources(&self) -> &[String] {
        &self.resources
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

    // ----- input checks -------------------------------------------------------

    fn check_reply(&self, req: RequestId, node: Option<NodeId>) -> Result<(), UsageError> {
        self.reqs.check_issued(req)?;
        if let Some(node) = node {
            if node.0 >= self.params.nodes {
                return Err(UsageError::UnknownNode {
                    node,
                    nodes: self.params.nodes,
                });
            }
            if let Some(sent) = self.reqs.tag_of(req).filter(|sent| *sent != node.0) {
                return Err(UsageError::NodeMismatch {
                    req,
                    sent: NodeId(sent),
                    got: node,
                });
            }
        }
        self.reqs.check(req)
    }

    // ----- requests -----------------------------------------------------------

    fn send(
        &mut self,
        node: u16,
        script: Script,
        keys: Arc<[String]>,
        args: Arc<[String]>,
        live: bool,
    ) {
        let req = if live {
            let deadline = self.now.plus(self.params.node_timeout);
            self.reqs.issue(node, self.now, Some(deadline))
        } else {
            self.reqs.issue_given_up(node, self.now)
        };
        self.out.push_back(Output::Command(Command::Eval(Eval {
            req,
            node: NodeId(node),
            script,
            keys,
            args,
        })));
    }

    fn send_to_all(&mut self, script: Script, live: bool) {
        let (keys, args) = match script {
            Script::Acquire => (&self.acquire_keys, &self.acquire_args),
            Script::Extend => (&self.lock_keys, &self.extend_args),
            _ => (&self.lock_keys, &self.release_args),
        };
        let (keys, args) = (keys.clone(), args.clone());
        for node in 0..self.params.nodes {
            self.send(node, script, keys.clone(), args.clone(), live);
        }
    }

    /// Stops counting every live request; their late replies will be ignored.
    fn give_up_live(&mut self) {
        self.reqs.give_up_all();
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    fn node_error(&mut self, req: u64, node: u16, kind: NodeErrorKind, message: String) {
        self.emit(Event::NodeError {
            req: RequestId(req),
            node: NodeId(node),
            kind,
            message,
        });
    }

    // ----- time ---------------------------------------------------------------

    /// Fires everything due at or before `self.now`, earliest first.
    fn advance(&mut self) {
        while self.advance_once() {}
    }

    fn advance_once(&mut self) -> bool {
        let now = self.now;
        match self.phase {
            Phase::Acquiring(_) => {
                if self.deadline.is_some_and(|d| d <= now) {
                    self.fail_attempt(AttemptFailure::Deadline);
                    true
                } else {
                    self.time_out_one()
                }
            }
            Phase::Retrying { at } if at <= now => {
                self.start_attempt();
                true
            }
            Phase::Held(mut hold) => {
                if hold.lost_at <= now {
                    let reason = if self.params.auto_extend {
                        LostReason::ExtensionFailed
                    } else {
                        LostReason::Expired
                    };
                    // The hold ended at the loss deadline, however late it is noticed.
                    self.lose(reason, hold.lost_at);
                    true
                } else if hold.warn_at.is_some_and(|w| w <= now) {
                    hold.warn_at = None;
                    self.phase = Phase::Held(hold);
                    self.emit(Event::ExpiryWarning {
                        valid_until: hold.valid_until,
                    });
                    true
                } else if hold.round.is_some() {
                    self.time_out_one()
                } else if hold.extend_at.is_some_and(|at| at <= now) {
                    self.start_extension();
                    true
                } else {
                    false
                }
            }
            Phase::Releasing(_) => self.time_out_one(),
            _ => false,
        }
    }

    /// Times out the earliest overdue live request, if any.
    fn time_out_one(&mut self) -> bool {
        let Some((req, node)) = self.reqs.time_out(self.now) else {
            return false;
        };
        let reply = NodeReply::Error {
            kind: NodeErrorKind::Timeout,
            message: format!("no reply within {} ms", self.params.node_timeout),
        };
        self.on_answer(req.0, node, &reply);
        true
    }

    // ----- answers ------------------------------------------------------------

    fn on_reply(&mut self, req: RequestId, reply: &NodeReply) {
        // `None`: given up or forgotten; a late reply is ignored.
        if let Some((node, _sent)) = self.reqs.answer(req) {
            self.on_answer(req.0, node, reply);
        }
    }

    /// Routes the answer to a live request to the operation in progress.
    fn on_answer(&mut self, req: u64, node: u16, reply: &NodeReply) {
        match self.phase {
            Phase::Acquiring(attempt) => match attempt.fence {
                None => self.on_acquire_answer(req, node, reply),
                Some(round) => self.on_fence_answer(req, node, round, reply),
            },
            Phase::Held(_) => self.on_extend_answer(req, node, reply),
            Phase::Releasing(_) => self.on_release_answer(req, node, reply),
            _ => {}
        }
    }

    /// Turns a non-integer (or unexpected) reply into a node error; returns the
    /// integer otherwise.
    fn expect_int(
        &mut self,
        req: u64,
        node: u16,
        script: Script,
        reply: &NodeReply,
        valid: impl Fn(i64) -> bool,
    ) -> Option<i64> {
        match reply {
            NodeReply::Int { value } if valid(*value) => Some(*value),
            NodeReply::Error { kind, message } => {
                self.node_error(req, node, *kind, message.clone());
                None
            }
            other => {
                let message = format!("unexpected reply to {}: {}", script.name(), describe(other));
                self.node_error(req, node, NodeErrorKind::Protocol, message);
                None
            }
        }
    }

    fn on_acquire_answer(&mut self, req: u64, node: u16, reply: &NodeReply) {
        let fencing = self.params.fencing;
        let value = self.expect_int(req, node, Script::Acquire, reply, |v| {
            if fencing {
                v >= 0
            } else {
                v == 0 || v == 1
            }
        });
        let Phase::Acquiring(mut attempt) = self.phase else {
            return;
        };
        match value {
            Some(0) => {
                attempt.conflicts += 1;
                self.votes[usize::from(node)] = NodeVote::Conflict;
                if !attempt.met_holder {
                    attempt.met_holder = true;
                    self.contended += 1;
                }
            }
            Some(counter) => {
                attempt.granted += 1;
                self.votes[usize::from(node)] = NodeVote::Granted(counter as u64);
            }
            None => attempt.errors += 1,
        }
        self.phase = Phase::Acquiring(attempt);
        if attempt.granted >= self.params.quorum {
            self.on_quorum(attempt);
        } else if attempt.conflicts + attempt.errors > self.params.tolerated_failures() {
            self.fail_attempt(AttemptFailure::NoQuorum);
        }
    }

    /// A quorum granted: settle the fencing token.
    ///
    /// Every request times out `node_timeout` (at most a third of the validity
    /// window) after it was sent, and deadlines fire before any later input is
    /// applied, so a quorum is always counted inside the validity window, with at
    /// least a third of it left, fence round included.
    fn on_quorum(&mut self, mut attempt: Attempt) {
        if !self.params.fencing {
            self.acquired(attempt, None);
            return;
        }
        let (token, agreeing) = {
            let granted = self.votes.iter().filter_map(|v| match v {
                NodeVote::Granted(counter) => Some(*counter),
                _ => None,
            });
            let token = granted.clone().max().unwrap_or(0);
            (token, granted.filter(|c| *c == token).count() as u16)
        };
        if agreeing >= self.params.quorum {
            self.acquired(attempt, Some(token));
            return;
        }
        // Fewer than a quorum hold exactly `token`: write it back to every node
        // that may hold our keys and does not have it yet.
        self.give_up_live();
        let keys = self.acquire_keys.clone();
        let args: Arc<[String]> = Arc::from([
            String::from(&*self.value),
            token.to_string(),
            self.resource_count.to_string(),
        ]);
        let mut awaiting = 0u16;
        for node in 0..self.params.nodes {
            match self.votes[usize::from(node)] {
                NodeVote::Granted(counter) if counter == token => {}
                NodeVote::Conflict => {}
                _ => {
                    self.send(node, Script::Fence, keys.clone(), args.clone(), true);
                    awaiting += 1;
                }
            }
        }
        attempt.fence = Some(FenceRound {
            token,
            confirmed: agreeing,
            awaiting,
        });
        self.phase = Phase::Acquiring(attempt);
    }

    fn on_fence_answer(&mut self, req: u64, node: u16, mut round: FenceRound, reply: &NodeReply) {
        let value = self.expect_int(req, node, Script::Fence, reply, |v| v >= 0);
        let Phase::Acquiring(mut attempt) = self.phase else {
            return;
        };
        round.awaiting -= 1;
        if value == Some(round.token as i64) {
            round.confirmed += 1;
        }
        attempt.fence = Some(round);
        self.phase = Phase::Acquiring(attempt);
        if round.confirmed >= self.params.quorum {
            self.acquired(attempt, Some(round.token));
        } else if round.confirmed + round.awaiting < self.params.quorum {
            self.fail_attempt(AttemptFailure::FenceUnconfirmed);
        }
    }

    fn on_extend_answer(&mut self, req: u64, node: u16, reply: &NodeReply) {
        let value = self.expect_int(req, node, Script::Extend, reply, |v| (-1..=1).contains(&v));
        let Phase::Held(mut hold) = self.phase else {
            return;
        };
        let Some(mut round) = hold.round else {
            return;
        };
        match value {
            Some(1) => round.confirmed += 1,
            Some(_) => round.rejected += 1,
            None => round.errors += 1,
        }
        hold.round = Some(round);
        self.phase = Phase::Held(hold);
        let quorum = self.params.quorum;
        if round.confirmed >= quorum {
            self.give_up_live();
            let valid_until = round.start.plus(self.params.window);
            if let Some(lease) = self.lease.as_mut() {
                lease.valid_until = valid_until;
            }
            self.phase = Phase::Held(self.new_hold(round.start, valid_until));
            self.emit(Event::Extended { valid_until });
        } else if round.rejected >= quorum {
            self.lose(LostReason::Rejected, self.now);
        } else if round.rejected + round.errors > self.params.tolerated_failures() {
            self.give_up_live();
            hold.round = None;
            let retry_at = self.now.plus(self.params.retry.base_delay);
            hold.extend_at =
                (self.params.auto_extend && retry_at < hold.lost_at).then_some(retry_at);
            self.phase = Phase::Held(hold);
            self.emit(Event::ExtendFailed {
                reason: ExtendFailure::NoQuorum,
                valid_until: hold.valid_until,
                retry_at: hold.extend_at,
            });
        }
    }

    fn on_release_answer(&mut self, req: u64, node: u16, reply: &NodeReply) {
        let count = self.resource_count;
        let value = self.expect_int(req, node, Script::Release, reply, |v| {
            (-1..=count).contains(&v)
        });
        let Phase::Releasing(mut round) = self.phase else {
            return;
        };
        round.awaiting -= 1;
        match value {
            Some(-1) => round.held_by_other += 1,
            Some(v) if v == count => round.released += 1,
            Some(_) => round.not_held += 1,
            None => round.errors += 1,
        }
        self.phase = Phase::Releasing(round);
        let outcome = if round.released >= self.params.quorum {
            ReleaseOutcome::Released
        } else if round.errors > self.params.tolerated_failures() {
            ReleaseOutcome::QuorumUnreachable
        } else if round.awaiting > 0 {
            return;
        } else if round.held_by_other > 0 {
            ReleaseOutcome::HeldByOther
        } else {
            ReleaseOutcome::AlreadyExpired
        };
        self.give_up_live();
        self.phase = Phase::Released;
        self.emit(Event::Released {
            outcome,
            held_for: round.held_for,
        });
    }

    // ----- transitions --------------------------------------------------------

    fn start_attempt(&mut self) {
        self.attempts += 1;
        self.set_attempt_value();
        for vote in &mut self.votes {
            *vote = NodeVote::Unknown;
        }
        self.phase = Phase::Acquiring(Attempt {
            number: self.attempts,
            start: self.now,
            valid_until: self.now.plus(self.params.window),
            granted: 0,
            conflicts: 0,
            errors: 0,
            met_holder: false,
            fence: None,
        });
        self.send_to_all(Script::Acquire, true);
    }

    /// Sets the value the current attempt writes, and the script arguments built
    /// from it. Attempt 1 writes the host's value; attempt `n > 1` writes
    /// `"<value>.<n>"`. A retry never shares a value with an earlier attempt, so the
    /// earlier attempt's release, if it reaches a node after the retry's acquire
    /// (a host that reorders commands), cannot delete the retry's key.
    fn set_attempt_value(&mut self) {
        let value = if self.attempts <= 1 {
            self.base_value.clone()
        } else {
            format!("{}.{}", self.base_value, self.attempts)
        };
        let ttl = self.params.ttl.to_string();
        self.acquire_args =
            Arc::from([value.clone(), ttl.clone(), self.resource_count.to_string()]);
        self.extend_args = Arc::from([value.clone(), ttl]);
        self.value = Arc::from(value.as_str());
        self.release_args = Arc::from([value]);
    }

    /// Ends the attempt in flight: releases on every node, then retries or fails.
    fn fail_attempt(&mut self, reason: AttemptFailure) {
        let Phase::Acquiring(attempt) = self.phase else {
            return;
        };
        self.give_up_live();
        self.send_to_all(Script::Release, false);
        let next = if reason == AttemptFailure::Deadline {
            NextAttempt::PastDeadline
        } else {
            let retry = self.params.retry;
            retry.next_attempt(self.attempts, self.now, self.deadline, &mut self.rng)
        };
        let (retry_at, failure) = match next {
            NextAttempt::At(at) => (Some(at), AcquireFailure::AttemptsExhausted),
            NextAttempt::Exhausted => (None, AcquireFailure::AttemptsExhausted),
            NextAttempt::PastDeadline => (None, AcquireFailure::Deadline),
        };
        self.emit(Event::AttemptFailed {
            attempt: attempt.number,
            reason,
            granted: attempt.granted,
            conflicts: attempt.conflicts,
            errors: attempt.errors,
            retry_at,
        });
        match retry_at {
            Some(at) => self.phase = Phase::Retrying { at },
            None => self.fail(failure),
        }
    }

    fn fail(&mut self, reason: AcquireFailure) {
        self.give_up_live();
        self.phase = Phase::Failed;
        let stats = self.stats();
        self.emit(Event::AcquireFailed { reason, stats });
    }

    fn acquired(&mut self, attempt: Attempt, token: Option<u64>) {
        self.give_up_live();
        let lease = Lease {
            resources: self.resources.clone(),
            value: self.value.clone(),
            acquired_at: self.now,
            valid_until: attempt.valid_until,
            fencing_token: token.map(FencingToken),
        };
        self.lease = Some(lease.clone());
        self.phase = Phase::Held(self.new_hold(attempt.start, attempt.valid_until));
        let stats = self.stats();
        self.emit(Event::Acquired { lease, stats });
    }

    /// A validity period that started at `start` and ends at `valid_until`.
    fn new_hold(&self, start: Millis, valid_until: Millis) -> Hold {
        let p = &self.params;
        let lost_at = Millis(valid_until.0 - p.lost_lead());
        let warn_at = start.plus(p.warn_after());
        Hold {
            valid_until,
            lost_at,
            warn_at: (warn_at < lost_at).then_some(warn_at),
            extend_at: p
                .auto_extend
                .then(|| Millis(valid_until.0 - p.extend_lead())),
            round: None,
        }
    }

    fn start_extension(&mut self) {
        let Phase::Held(mut hold) = self.phase else {
            return;
        };
        hold.extend_at = None;
        hold.round = Some(ExtendRound {
            start: self.now,
            confirmed: 0,
            rejected: 0,
            errors: 0,
        });
        self.phase = Phase::Held(hold);
        self.send_to_all(Script::Extend, true);
    }

    fn lose(&mut self, reason: LostReason, ended_at: Millis) {
        self.give_up_live();
        self.phase = Phase::Lost;
        self.ended_at = Some(ended_at);
        let held_for = self.held_for();
        self.emit(Event::Lost { reason, held_for });
    }

    /// From acquisition to now, or to the loss if the lease was lost.
    fn held_for(&self) -> u64 {
        let end = self.ended_at.unwrap_or(self.now);
        self.lease
            .as_ref()
            .map_or(0, |lease| end.since(lease.acquired_at))
    }

    fn start_release(&mut self) {
        self.give_up_live();
        self.phase = Phase::Releasing(ReleaseRound {
            held_for: self.held_for(),
            released: 0,
            not_held: 0,
            held_by_other: 0,
            errors: 0,
            awaiting: self.params.nodes,
        });
        self.send_to_all(Script::Release, true);
    }

    fn cancel(&mut self) {
        if matches!(self.phase, Phase::Acquiring(_)) {
            self.give_up_live();
            self.send_to_all(Script::Release, false);
        }
        self.fail(AcquireFailure::Cancelled);
    }
}

impl Machine for Redlock {
    type Input = Input;
    type Output = Output;

    fn handle_input(&mut self, input: Input) -> Result<(), UsageError> {
        let now = input.now();
        now.check_input(self.now)?;
        match input {
            Input::Reply {
                req, node, result, ..
            } => {
                self.check_reply(req, node)?;
                self.now = now;
                self.advance();
                self.on_reply(req, &result);
            }
            Input::Timeout { .. } => {
                self.now = now;
            }
            Input::Extend { .. } => {
                match self.state() {
                    State::Held | State::Extending => {}
                    State::Lost => return Err(UsageError::LeaseLost),
                    state => {
                        return Err(UsageError::InvalidState {
                            input: "extend",
                            state: state.name(),
                        })
                    }
                }
                self.now = now;
                self.advance();
                if matches!(self.state(), State::Held) {
                    self.start_extension();
                }
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
                    Phase::Acquiring(_) | Phase::Retrying { .. } => self.cancel(),
                    Phase::Held(_) | Phase::Lost => self.start_release(),
                    _ => {}
                }
            }
        }
        self.advance();
        Ok(())
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let live = self.reqs.next_deadline();
        match &self.phase {
            Phase::Acquiring(_) => earliest(live, self.deadline),
            Phase::Retrying { at } => Some(*at),
            Phase::Held(hold) => {
                let next = earliest(Some(hold.lost_at), hold.warn_at);
                if hold.round.is_some() {
                    earliest(next, live)
                } else {
                    earliest(next, hold.extend_at)
                }
            }
            Phase::Releasing(_) => live,
            Phase::Lost | Phase::Released | Phase::Failed => None,
        }
    }
}

fn check_resources(mut resources: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if resources.is_empty() {
        return Err(ConfigError::NoResources);
    }
    if resources.len() > MAX_RESOURCES {
        return Err(ConfigError::TooManyResources {
            count: resources.len(),
            max: MAX_RESOURCES,
        });
    }
    for name in &resources {
        if name.is_empty() {
            return Err(ConfigError::EmptyResource);
        }
        if name.len() > MAX_RESOURCE_LEN {
            return Err(ConfigError::ResourceTooLong {
                len: name.len(),
                max: MAX_RESOURCE_LEN,
            });
        }
    }
    resources.sort_unstable();
    if let Some(pair) = resources.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ConfigError::DuplicateResource {
            name: pair[0].clone(),
        });
    }
    Ok(resources)
}

fn check_value(value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || !is_printable(value, MAX_VALUE_LEN) {
        return Err(ConfigError::InvalidValue { max: MAX_VALUE_LEN });
    }
    Ok(())
}

fn describe(reply: &NodeReply) -> String {
    match reply {
        NodeReply::Int { value } => format!("integer {value}"),
        NodeReply::Nil => String::from("nil"),
        NodeReply::Text { .. } => String::from("a string"),
        NodeReply::Array { items } => format!("an array of {}", items.len()),
        NodeReply::Error { kind, .. } => format!("{} error", kind.name()),
    }
}
