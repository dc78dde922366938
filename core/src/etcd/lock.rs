//! The lease-lock engine behind [`Mutex`] and [`Election`]: one lease, one key,
//! from the lease grant to the revoke.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::config::{
    check_name, election_value_ok, EtcdConfig, MutexArgs, Params, Wait, CLEANUP_ATTEMPTS,
    MAX_ELECTION_VALUE_LEN, MAX_TTL_SECS,
};
use super::protocol::{
    AcquireFailure, AcquireStats, Command, Compare, ErrorKind, Event, Input, KeyValue, LeaseId,
    LockInfo, LostReason, Op, OpResponse, Output, RangeRequest, ReleaseOutcome, Reply, Sort,
    SortOrder, SortTarget, State,
};
use super::ElectionArgs;
use crate::backoff::NextAttempt;
use crate::backoff::SplitMix64;
use crate::error::{ConfigError, UsageError};
use crate::fence::FencingToken;
use crate::pending::Requests;
use crate::redlock::config::{check_start_time, check_timeout};
use crate::types::{earliest, keep_earliest, Millis, RequestId};
use crate::Machine;

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Grant,
    KeepAlive,
    Txn,
    Predecessor,
    Watch,
    Confirm,
    Proclaim,
    Delete,
    Revoke,
}

impl Tag {
    const fn command(self) -> &'static str {
        match self {
            Tag::Grant => "lease_grant",
            Tag::KeepAlive => "lease_keep_alive",
            Tag::Revoke => "lease_revoke",
            Tag::Txn | Tag::Proclaim | Tag::Delete => "txn",
            Tag::Predecessor | Tag::Confirm => "range",
            Tag::Watch => "watch",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Mutex,
    Election,
}

#[derive(Clone, Copy, Debug)]
enum KeepAlive {
    Due(Millis),
    InFlight,
    Off,
}

#[derive(Clone, Copy, Debug)]
struct Session {
    lease: LeaseId,
    /// TTL granted, in seconds.
    ttl: u64,
    valid_until: Millis,
    /// Send time of the grant or keep-alive that set `valid_until`.
    period_start: Millis,
    /// `period_start` of the validity period the expiry warning was given for.
    warned: Option<Millis>,
    keepalive: KeepAlive,
}

/// The lock track: at most one request (or one scheduled request) at a time.
#[derive(Clone, Copy, Debug)]
enum Step {
    Idle,
    InFlight { req: RequestId },
    Watching { req: RequestId, recheck_at: Millis },
    Scheduled { tag: Tag, at: Millis },
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Release { held_for: u64 },
    GiveUp(AcquireFailure),
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Acquiring,
    Held,
    Lost,
    Cleanup {
        purpose: Purpose,
        deleted: Option<bool>,
        revoked: Option<bool>,
        attempts: u32,
    },
    Released,
    Failed,
}

/// Commands that depend only on the key, built once the lease is known.
#[derive(Clone, Debug)]
struct Prepared {
    key: Arc<str>,
    acquire_compare: Arc<[Compare]>,
    acquire_success: Arc<[Op]>,
    acquire_failure: Arc<[Op]>,
}

#[derive(Clone, Debug)]
struct Engine {
    kind: Kind,
    params: Params,
    /// `name + "/"`.
    prefix: Arc<str>,
    /// The prefix with its last byte incremented: `name + "0"`.
    range_end: Arc<str>,
    value: Arc<str>,
    try_lock: bool,
    rng: SplitMix64,
    now: Millis,
    reqs: Requests<Tag>,
    op_start: Millis,
    deadline: Option<Millis>,
    /// Poll mode: the deadline passed and the last read of the queue is under way.
    last_look: bool,
    /// Consecutive failed requests of the lock track.
    failures: u32,
    stats: AcquireStats,

    session: Option<Session>,
    prepared: Option<Prepared>,
    my_rev: Option<u64>,
    lock: Option<LockInfo>,
    ended_at: Option<Millis>,
    proclaiming: Option<Arc<str>>,
    step: Step,
    phase: Phase,
    out: VecDeque<Output>,
}

impl Engine {
    fn new(
        kind: Kind,
        config: &EtcdConfig,
        now: Millis,
        name: &str,
        value: &str,
        timeout: Option<u64>,
        try_lock: bool,
    ) -> Result<Self, ConfigError> {
        let params = config.validate()?;
        check_start_time(now)?;
        check_name(name)?;
        check_timeout(timeout)?;
        let mut engine = Engine {
            kind,
            params,
            prefix: Arc::from(format!("{name}/")),
            range_end: Arc::from(format!("{name}0")),
            value: Arc::from(value),
            try_lock,
            rng: SplitMix64::new(config.rng_seed),
            now,
            reqs: Requests::new(),
            op_start: now,
            deadline: timeout.map(|t| now.plus(t)),
            last_look: false,
            failures: 0,
            stats: AcquireStats::default(),
            session: None,
            prepared: None,
            my_rev: None,
            lock: None,
            ended_at: None,
            proclaiming: None,
            step: Step::Idle,
            phase: Phase::Acquiring,
            out: VecDeque::with_capacity(4),
        };
        engine.send(Tag::Grant);
        Ok(engine)
    }

    fn state(&self) -> State {
        match self.phase {
            Phase::Acquiring if self.stats.queued => State::Waiting,
            Phase::Acquiring => State::Acquiring,
            Phase::Held if self.proclaiming.is_some() => State::Proclaiming,
            Phase::Held => State::Held,
            Phase::Lost => State::Lost,
            Phase::Cleanup { .. } => State::Releasing,
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

    fn key(&self) -> Option<&str> {
        self.prepared.as_ref().map(|p| &*p.key)
    }

    /// Whether the lease's validity matters (and its keep-alives run).
    fn session_active(&self) -> bool {
        matches!(self.phase, Phase::Acquiring | Phase::Held)
    }

    // ----- requests -----------------------------------------------------------

    fn send(&mut self, tag: Tag) {
        // Watches are issued by `watch`, without a reply deadline.
        let deadline = Some(self.now.plus(self.params.request_timeout));
        let req = self.reqs.issue(tag, self.now, deadline);
        let command = match self.build(tag, req) {
            Some(command) => command,
            None => {
                // Unreachable by construction (every tag is only sent once what it
                // needs is known); give the request up rather than panic.
                self.reqs.give_up(req);
                return;
            }
        };
        match tag {
            Tag::KeepAlive => {
                if let Some(session) = self.session.as_mut() {
                    session.keepalive = KeepAlive::InFlight;
                }
            }
            _ => self.step = Step::InFlight { req },
        }
        self.out.push_back(Output::Command(command));
    }

    fn build(&self, tag: Tag, req: RequestId) -> Option<Command> {
        let lease = self.session.map(|s| s.lease);
        Some(match tag {
            Tag::Grant => Command::LeaseGrant {
                req,
                ttl: self.params.ttl_secs,
            },
            Tag::KeepAlive => Command::LeaseKeepAlive { req, lease: lease? },
            Tag::Revoke => Command::LeaseRevoke { req, lease: lease? },
            Tag::Txn => {
                let p = self.prepared.as_ref()?;
                Command::Txn {
                    req,
                    compare: p.acquire_compare.clone(),
                    success: p.acquire_success.clone(),
                    failure: p.acquire_failure.clone(),
                }
            }
            Tag::Predecessor => Command::Range {
                req,
                range: RangeRequest {
                    key: self.prefix.clone(),
                    range_end: Some(self.range_end.clone()),
                    limit: 1,
                    sort: Some(Sort {
                        target: SortTarget::Create,
                        order: SortOrder::Descend,
                    }),
                    max_create_revision: Some(self.my_rev?.saturating_sub(1)),
                },
            },
            Tag::Watch => return None, // built by `watch`
            Tag::Confirm => Command::Range {
                req,
                range: RangeRequest {
                    key: self.prepared.as_ref()?.key.clone(),
                    range_end: None,
                    limit: 0,
                    sort: None,
                    max_create_revision: None,
                },
            },
            Tag::Proclaim | Tag::Delete => {
                let key = self.prepared.as_ref()?.key.clone();
                let compare = Arc::from([Compare::CreateRevision {
                    key: key.clone(),
                    revision: self.my_rev?,
                }]);
                let op = if tag == Tag::Proclaim {
                    Op::Put {
                        key,
                        value: self.proclaiming.clone()?,
                        lease,
                    }
                } else {
                    Op::DeleteRange { key }
                };
                Command::Txn {
                    req,
                    compare,
                    success: Arc::from([op]),
                    failure: Arc::from([]),
                }
            }
        })
    }

    /// Watches `key` from `start_revision` (the predecessor read's revision + 1).
    fn watch(&mut self, key: String, start_revision: u64) {
        let req = self.reqs.issue(Tag::Watch, self.now, None);
        let recheck = match self.params.wait {
            Wait::Watch { recheck } => recheck,
            Wait::Poll { interval } => interval,
        };
        self.step = Step::Watching {
            req,
            recheck_at: self.now.plus(recheck),
        };
        self.out.push_back(Output::Command(Command::Watch {
            req,
            key: Arc::from(key),
            range_end: None,
            start_revision,
        }));
    }

    /// Drops the lock track's request (closing a watch), if any.
    fn stop_step(&mut self) {
        match self.step {
            Step::InFlight { req, .. } => self.reqs.give_up(req),
            Step::Watching { req, .. } => {
                self.reqs.give_up(req);
                self.out
                    .push_back(Output::Command(Command::CancelWatch { watch: req }));
            }
            Step::Idle | Step::Scheduled { .. } => {}
        }
        self.step = Step::Idle;
    }

    /// Stops keep-alives and forgets the one in flight.
    fn stop_session(&mut self) {
        self.reqs.give_up_all();
        if let Some(session) = self.session.as_mut() {
            session.keepalive = KeepAlive::Off;
        }
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    fn request_error(&mut self, req: RequestId, kind: ErrorKind, message: String) {
        self.emit(Event::RequestError { req, kind, message });
    }

    // ----- replies ------------------------------------------------------------

    fn on_reply(&mut self, req: RequestId, reply: Reply) {
        let Some((tag, sent)) = self.reqs.answer(req) else {
            return; // given up: a late reply, ignored
        };
        if tag != Tag::KeepAlive {
            self.step = Step::Idle;
        }
        if let Reply::Error { kind, message } = reply {
            self.on_failure(req, tag, kind, message);
            return;
        }
        let name = reply.name();
        let problem = match tag {
            Tag::Grant => self.on_grant(reply, sent),
            Tag::KeepAlive => self.on_keepalive(reply, sent),
            Tag::Txn => self.on_acquire_txn(reply),
            Tag::Predecessor => self.on_predecessor(reply),
            Tag::Watch => self.on_watch(reply),
            Tag::Confirm => self.on_confirm(reply),
            Tag::Proclaim => self.on_proclaim(reply),
            Tag::Delete => self.on_delete(reply),
            Tag::Revoke => self.on_revoke(reply),
        };
        if let Some(problem) = problem {
            let message = match problem {
                Problem::WrongType => format!("unexpected reply to {}: {name}", tag.command()),
                Problem::Invalid(what) => String::from(what),
            };
            self.on_failure(req, tag, ErrorKind::Protocol, message);
        }
    }

    fn on_failure(&mut self, req: RequestId, tag: Tag, kind: ErrorKind, message: String) {
        let lease_gone = kind == ErrorKind::LeaseNotFound;
        if tag == Tag::Revoke && lease_gone {
            // The lease is already gone: that is what the revoke wanted.
            self.cleanup_answer(None, Some(false));
            return;
        }
        self.request_error(req, kind, message);
        match tag {
            Tag::KeepAlive if lease_gone => self.lose(LostReason::Revoked),
            Tag::KeepAlive => {
                let at = self.now.plus(self.params.retry.base_delay);
                if let Some(session) = self.session.as_mut() {
                    session.keepalive = KeepAlive::Due(at);
                }
            }
            Tag::Txn | Tag::Proclaim if lease_gone => self.lose(LostReason::Revoked),
            Tag::Proclaim => {
                let value = self
                    .proclaiming
                    .take()
                    .map(|v| String::from(&*v))
                    .unwrap_or_default();
                self.emit(Event::ProclaimFailed { value });
            }
            Tag::Grant | Tag::Txn | Tag::Predecessor | Tag::Confirm => self.retry(tag),
            Tag::Watch => self.retry(Tag::Predecessor),
            Tag::Delete | Tag::Revoke => self.cleanup_retry(tag),
        }
    }

    /// The acquire deadline arrived. A poll-mode waiter takes one last look at the
    /// queue first (its predecessor may have left since the last read, e.g. a waiter
    /// that gave up at its own deadline): a free lock is taken, otherwise it gives
    /// up. Everything else gives up at once.
    fn on_deadline(&mut self) {
        let polling = matches!(self.params.wait, Wait::Poll { .. }) && self.stats.queued;
        match self.step {
            Step::Scheduled {
                tag: Tag::Predecessor,
                ..
            } if polling => {
                self.last_look = true;
                self.step = Step::Idle;
                self.send(Tag::Predecessor);
            }
            Step::InFlight { req }
                if polling
                    && matches!(self.reqs.tag_of(req), Some(Tag::Predecessor | Tag::Confirm)) =>
            {
                self.last_look = true;
            }
            _ => self.give_up(AcquireFailure::Deadline),
        }
    }

    /// A lock-track request failed: retry it after the backoff delay, or give up.
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

    /// The grant answered; validity counts from `sent`, the grant's send time.
    fn on_grant(&mut self, reply: Reply, sent: Millis) -> Option<Problem> {
        let Reply::LeaseGranted { lease, ttl } = reply else {
            return Some(Problem::WrongType);
        };
        if !lease.is_valid() {
            return Some(Problem::Invalid(
                "lease_granted with a lease id outside 1..=2^63-1",
            ));
        }
        if ttl == 0 {
            return Some(Problem::Invalid("lease_granted with TTL 0"));
        }
        self.failures = 0;
        let valid_until = sent.plus(self.params.window(ttl));
        self.session = Some(Session {
            lease,
            ttl,
            valid_until,
            period_start: sent,
            warned: None,
            keepalive: KeepAlive::Due(self.now.plus(keepalive_interval(ttl))),
        });
        let key: Arc<str> = Arc::from(format!("{}{}", self.prefix, lease.hex()));
        let owner = Op::Range(RangeRequest::oldest_in(&self.prefix, &self.range_end));
        let own = Op::Range(RangeRequest {
            key: key.clone(),
            range_end: None,
            limit: 0,
            sort: None,
            max_create_revision: None,
        });
        self.prepared = Some(Prepared {
            acquire_compare: Arc::from([Compare::CreateRevision {
                key: key.clone(),
                revision: 0,
            }]),
            acquire_success: Arc::from([
                Op::Put {
                    key: key.clone(),
                    value: self.value.clone(),
                    lease: Some(lease),
                },
                owner.clone(),
            ]),
            acquire_failure: Arc::from([own, owner]),
            key,
        });
        self.emit(Event::LeaseGranted {
            lease,
            ttl,
            valid_until,
        });
        if valid_until <= self.now {
            self.lose(LostReason::Expired);
        } else {
            self.send(Tag::Txn);
        }
        None
    }

    fn on_keepalive(&mut self, reply: Reply, sent: Millis) -> Option<Problem> {
        let Reply::LeaseKeptAlive { ttl } = reply else {
            return Some(Problem::WrongType);
        };
        if ttl == 0 {
            self.lose(LostReason::Revoked);
            return None;
        }
        if let Some(valid_until) = self.renew(ttl, sent) {
            if let Some(lock) = self.lock.as_mut() {
                lock.valid_until = valid_until;
            }
            self.emit(Event::KeptAlive { valid_until });
        }
        None
    }

    /// An acknowledged keep-alive sent at `sent`: validity from its send time,
    /// next one due a third of the TTL from now. Returns the new end of validity.
    fn renew(&mut self, ttl: u64, sent: Millis) -> Option<Millis> {
        let window = self.params.window(ttl);
        let now = self.now;
        let session = self.session.as_mut()?;
        if !matches!(session.keepalive, KeepAlive::InFlight) {
            return None;
        }
        let renewed = sent.plus(window);
        if renewed > session.valid_until {
            session.valid_until = renewed;
            session.period_start = sent;
            session.ttl = ttl;
        }
        session.keepalive = KeepAlive::Due(now.plus(keepalive_interval(ttl)));
        Some(session.valid_until)
    }

    fn on_acquire_txn(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::Txn {
            succeeded,
            revision,
            responses,
        } = reply
        else {
            return Some(Problem::WrongType);
        };
        let parsed = match (succeeded, responses.as_slice()) {
            (true, [OpResponse::Put, OpResponse::Range { kvs }]) => {
                Some((revision, kvs.first().map(|kv| kv.create_revision)))
            }
            (false, [OpResponse::Range { kvs: own }, OpResponse::Range { kvs }]) => own
                .first()
                .map(|kv| (kv.create_revision, kvs.first().map(|kv| kv.create_revision))),
            _ => None,
        };
        let Some((my_rev, owner)) = parsed.filter(|(rev, _)| *rev > 0) else {
            return Some(Problem::Invalid(
                "acquire txn reply lacks our key's revision or the owner range",
            ));
        };
        self.failures = 0;
        self.my_rev = Some(my_rev);
        if owner.is_none_or(|owner| owner == my_rev) {
            self.acquired();
        } else if self.try_lock {
            self.stats.queued = true;
            self.give_up(AcquireFailure::Locked);
        } else {
            self.stats.queued = true;
            self.send(Tag::Predecessor);
        }
        None
    }

    fn on_predecessor(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::Range { revision, kvs } = reply else {
            return Some(Problem::WrongType);
        };
        let my_rev = self.my_rev.unwrap_or(0);
        let Some(predecessor) = kvs.into_iter().next() else {
            self.failures = 0;
            self.send(Tag::Confirm);
            return None;
        };
        if predecessor.create_revision == 0 || predecessor.create_revision >= my_rev {
            return Some(Problem::Invalid(
                "predecessor range returned a key not created before ours",
            ));
        }
        self.failures = 0;
        match self.params.wait {
            // Every write up to the read's revision is already reflected in it; a
            // delete after the read comes at a later revision and is replayed.
            // Starting at the read's own revision would replay the predecessor's
            // last write (an election leader's proclaim) and wake us at once,
            // after every read.
            Wait::Watch { .. } => self.watch(predecessor.key, revision.saturating_add(1)),
            Wait::Poll { .. } if self.last_look => self.give_up(AcquireFailure::Deadline),
            Wait::Poll { interval } => {
                self.step = Step::Scheduled {
                    tag: Tag::Predecessor,
                    at: self.now.plus(interval),
                };
            }
        }
        None
    }

    fn on_watch(&mut self, reply: Reply) -> Option<Problem> {
        match reply {
            Reply::Watch { .. } | Reply::WatchCompacted { .. } | Reply::WatchCanceled { .. } => {
                // Whatever happened to the predecessor, read the queue again: it may
                // have been a waiter that expired, not the holder.
                self.send(Tag::Predecessor);
                None
            }
            _ => Some(Problem::WrongType),
        }
    }

    fn on_confirm(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::Range { kvs, .. } = reply else {
            return Some(Problem::WrongType);
        };
        self.failures = 0;
        let lease = self.session.map(|s| s.lease);
        let ours = |kv: &KeyValue| {
            Some(kv.key.as_str()) == self.key()
                && Some(kv.create_revision) == self.my_rev
                && kv.lease == lease
        };
        if kvs.first().is_some_and(ours) {
            self.acquired();
        } else {
            self.lose(LostReason::KeyDeleted);
        }
        None
    }

    fn on_proclaim(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::Txn { succeeded, .. } = reply else {
            return Some(Problem::WrongType);
        };
        let value = self.proclaiming.take().unwrap_or_default();
        if succeeded {
            self.value = value.clone();
            self.emit(Event::Proclaimed {
                value: String::from(&*value),
            });
        } else {
            self.lose(LostReason::KeyDeleted);
        }
        None
    }

    fn on_delete(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::Txn { succeeded, .. } = reply else {
            return Some(Problem::WrongType);
        };
        self.cleanup_answer(Some(succeeded), None);
        None
    }

    fn on_revoke(&mut self, reply: Reply) -> Option<Problem> {
        let Reply::LeaseRevoked = reply else {
            return Some(Problem::WrongType);
        };
        self.cleanup_answer(None, Some(true));
        None
    }

    // ----- transitions --------------------------------------------------------

    fn acquired(&mut self) {
        let (Some(session), Some(prepared), Some(my_rev)) =
            (self.session, self.prepared.as_ref(), self.my_rev)
        else {
            return;
        };
        let lock = LockInfo {
            key: prepared.key.clone(),
            lease: session.lease,
            token: FencingToken(my_rev),
            acquired_at: self.now,
            valid_until: session.valid_until,
        };
        self.lock = Some(lock.clone());
        self.phase = Phase::Held;
        let stats = self.stats();
        self.emit(Event::Acquired { lock, stats });
    }

    fn lose(&mut self, reason: LostReason) {
        let end = match (reason, self.session) {
            (LostReason::Expired, Some(session)) => session.valid_until.min(self.now),
            _ => self.now,
        };
        self.stop_step();
        self.stop_session();
        self.proclaiming = None;
        self.phase = Phase::Lost;
        self.ended_at = Some(end);
        let held_for = self.lock.as_ref().map(|l| end.since(l.acquired_at));
        self.emit(Event::Lost { reason, held_for });
        if self.lock.is_none() {
            // Lost before it was ever held: nobody will release a lock they never
            // got, so the machine removes its queue entry and revokes the lease
            // itself, then ends the acquisition.
            self.start_cleanup(Purpose::GiveUp(AcquireFailure::Lost));
        }
    }

    /// Ends an acquisition that did not get the lock: removes our key, revokes the
    /// lease, then reports `acquire_failed`.
    fn give_up(&mut self, reason: AcquireFailure) {
        self.start_cleanup(Purpose::GiveUp(reason));
    }

    fn start_cleanup(&mut self, purpose: Purpose) {
        self.stop_step();
        self.stop_session();
        self.proclaiming = None;
        self.phase = Phase::Cleanup {
            purpose,
            deleted: None,
            revoked: None,
            attempts: 0,
        };
        if self.session.is_none() {
            // No lease yet (a late grant's lease has no key and expires by itself).
            self.finish();
            return;
        }
        if self.my_rev.is_some() {
            self.send(Tag::Delete);
        } else {
            self.send(Tag::Revoke);
        }
    }

    /// The guarded delete (`deleted`) or the revoke (`revoked`) answered.
    fn cleanup_answer(&mut self, deleted: Option<bool>, revoked: Option<bool>) {
        let Phase::Cleanup {
            purpose,
            deleted: d,
            revoked: r,
            ..
        } = self.phase
        else {
            return;
        };
        self.phase = Phase::Cleanup {
            purpose,
            deleted: deleted.or(d),
            revoked: revoked.or(r),
            attempts: 0,
        };
        if revoked.is_some() {
            self.finish();
        } else {
            self.send(Tag::Revoke);
        }
    }

    fn cleanup_retry(&mut self, tag: Tag) {
        let Phase::Cleanup {
            purpose,
            deleted,
            revoked,
            attempts,
        } = self.phase
        else {
            return;
        };
        let attempts = attempts + 1;
        self.phase = Phase::Cleanup {
            purpose,
            deleted,
            revoked,
            attempts,
        };
        if attempts < CLEANUP_ATTEMPTS {
            let at = self
                .now
                .plus(self.params.retry.delay(attempts, &mut self.rng));
            self.step = Step::Scheduled { tag, at };
        } else if tag == Tag::Delete {
            self.cleanup_answer(None, None);
        } else {
            self.finish();
        }
    }

    fn finish(&mut self) {
        let Phase::Cleanup {
            purpose,
            deleted,
            revoked,
            ..
        } = self.phase
        else {
            return;
        };
        self.step = Step::Idle;
        match purpose {
            Purpose::Release { held_for } => {
                let outcome = match deleted.or(revoked) {
                    Some(true) => ReleaseOutcome::Released,
                    Some(false) => ReleaseOutcome::AlreadyExpired,
                    None => ReleaseOutcome::Unreachable,
                };
                self.phase = Phase::Released;
                self.emit(Event::Released { outcome, held_for });
            }
            Purpose::GiveUp(reason) => {
                self.phase = Phase::Failed;
                let stats = self.stats();
                self.emit(Event::AcquireFailed { reason, stats });
            }
        }
    }

    fn held_for(&self) -> u64 {
        let end = self.ended_at.unwrap_or(self.now);
        self.lock.as_ref().map_or(0, |l| end.since(l.acquired_at))
    }

    // ----- time ---------------------------------------------------------------

    /// Fires everything due at or before `self.now`: the end of validity first,
    /// then the rest earliest first.
    fn advance(&mut self) {
        while self.advance_once() {}
    }

    fn advance_once(&mut self) -> bool {
        let now = self.now;
        if self.session_active() && self.session.is_some_and(|s| s.valid_until <= now) {
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
            Timer::Deadline => self.on_deadline(),
            Timer::Request => {
                if let Some((req, tag)) = self.reqs.time_out(now) {
                    if tag != Tag::KeepAlive {
                        self.step = Step::Idle;
                    }
                    let message = format!("no reply within {} ms", self.params.request_timeout);
                    self.on_failure(req, tag, ErrorKind::Timeout, message);
                }
            }
            Timer::Step => match self.step {
                Step::Scheduled { tag, .. } => {
                    self.step = Step::Idle;
                    self.send(tag);
                }
                Step::Watching { .. } => {
                    self.stop_step();
                    self.send(Tag::Predecessor);
                }
                _ => {}
            },
            Timer::Warning => {
                if let Some(session) = self.session.as_mut() {
                    session.warned = Some(session.period_start);
                    let valid_until = session.valid_until;
                    self.emit(Event::ExpiryWarning { valid_until });
                }
            }
            Timer::KeepAlive => self.send(Tag::KeepAlive),
        }
        true
    }

    /// The earliest timer (ties: deadline, request, step, warning, keep-alive).
    fn next_timer(&self) -> Option<(Millis, Timer)> {
        let mut best: Option<(Millis, Timer)> = None;
        let mut consider = |at: Option<Millis>, timer: Timer| keep_earliest(&mut best, at, timer);
        if matches!(self.phase, Phase::Acquiring) && !self.last_look {
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
        if let (Phase::Held, Some(session)) = (self.phase, self.session) {
            consider(self.warn_at(&session), Timer::Warning);
        }
        if self.session_active() {
            if let Some(Session {
                keepalive: KeepAlive::Due(at),
                ..
            }) = self.session
            {
                consider(Some(at), Timer::KeepAlive);
            }
        }
        best
    }

    /// 80 % of the TTL into the current validity period, unless already warned
    /// (or past the end of validity).
    fn warn_at(&self, session: &Session) -> Option<Millis> {
        let ttl_ms = session.ttl.min(MAX_TTL_SECS) * 1_000;
        let at = session.period_start.plus(ttl_ms * 4 / 5);
        (session.warned != Some(session.period_start) && at < session.valid_until).then_some(at)
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let timer = self.next_timer().map(|(at, _)| at);
        let expiry = self
            .session
            .filter(|_| self.session_active())
            .map(|s| s.valid_until);
        earliest(timer, expiry)
    }

    // ----- inputs -------------------------------------------------------------

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
                match self.phase {
                    Phase::Acquiring => self.give_up(AcquireFailure::Cancelled),
                    Phase::Held | Phase::Lost => {
                        let held_for = self.held_for();
                        self.start_cleanup(Purpose::Release { held_for });
                    }
                    _ => {}
                }
            }
            Input::Proclaim { value, .. } => {
                if self.kind != Kind::Election {
                    return Err(UsageError::UnsupportedInput {
                        input: "proclaim",
                        machine: "etcd_mutex",
                    });
                }
                match self.state() {
                    State::Held => {}
                    State::Lost => return Err(UsageError::LeaseLost),
                    state => {
                        return Err(UsageError::InvalidState {
                            input: "proclaim",
                            state: state.name(),
                        })
                    }
                }
                if !election_value_ok(&value) {
                    return Err(UsageError::InvalidValue {
                        max: MAX_ELECTION_VALUE_LEN,
                    });
                }
                self.now = now;
                self.advance();
                if matches!(self.phase, Phase::Held) {
                    self.proclaiming = Some(Arc::from(value));
                    self.send(Tag::Proclaim);
                }
            }
        }
        self.advance();
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Deadline,
    Request,
    Step,
    Warning,
    KeepAlive,
}

enum Problem {
    WrongType,
    Invalid(&'static str),
}

/// Keep-alives go out a third of the granted TTL after the last acknowledgement.
fn keepalive_interval(ttl_secs: u64) -> u64 {
    ttl_secs.min(MAX_TTL_SECS) * 1_000 / 3
}

macro_rules! lease_machine {
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
            /// `valid_until` moves on with keep-alives while held).
            #[must_use]
            pub fn lock(&self) -> Option<&LockInfo> {
                self.0.lock.as_ref()
            }

            /// Our lease, once granted.
            #[must_use]
            pub fn lease(&self) -> Option<LeaseId> {
                self.0.session.map(|s| s.lease)
            }

            /// Our key (`name/<hex lease>`), once the lease is granted.
            #[must_use]
            pub fn key(&self) -> Option<&str> {
                self.0.key()
            }

            /// Our key's create revision, once the acquire transaction answered.
            #[must_use]
            pub fn revision(&self) -> Option<u64> {
                self.0.my_rev
            }

            /// Milliseconds of validity left at `now`: zero unless the lock is held.
            #[must_use]
            pub fn remaining(&self, now: Millis) -> u64 {
                match (self.0.phase, self.0.session) {
                    (Phase::Held, Some(session)) => session.valid_until.since(now),
                    _ => 0,
                }
            }

            /// Acquisition statistics so far.
            #[must_use]
            pub fn stats(&self) -> AcquireStats {
                self.0.stats()
            }

            /// Numbers derived from the configuration.
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

lease_machine!(
    /// An etcd lease mutex, compatible with Go's `concurrency.Mutex`: holders of
    /// the same name, ours or Go's, exclude each other.
    ///
    /// Built with [`Mutex::new`], which sends the lease grant. Drive it with the
    /// [`Machine`] methods; see the [module docs](super) for every transition.
    Mutex
);

lease_machine!(
    /// An etcd election campaign, compatible with Go's `concurrency.Election`
    /// (same keys): elected means "our key is the first-created under the name".
    /// Unlike Go, a campaigner whose lease expired while queued ends `lost`, never
    /// leader.
    ///
    /// Built with [`Election::new`], which sends the lease grant. `acquired` means
    /// elected; [`Input::Proclaim`] sets the value; [`Input::Release`] resigns.
    Election
);

impl Mutex {
    /// Validates `config` and `args`, then sends the lease grant at `args.now`.
    pub fn new(config: &EtcdConfig, args: MutexArgs) -> Result<Self, ConfigError> {
        Engine::new(
            Kind::Mutex,
            config,
            args.now,
            &args.name,
            "",
            args.timeout,
            args.try_lock,
        )
        .map(Mutex)
    }
}

impl Election {
    /// Validates `config` and `args`, then sends the lease grant at `args.now`.
    pub fn new(config: &EtcdConfig, args: ElectionArgs) -> Result<Self, ConfigError> {
        let engine = Engine::new(
            Kind::Election,
            config,
            args.now,
            &args.name,
            &args.value,
            args.timeout,
            false,
        )?;
        if !election_value_ok(&args.value) {
            return Err(ConfigError::InvalidValue {
                max: MAX_ELECTION_VALUE_LEN,
            });
        }
        Ok(Election(engine))
    }

    /// The value we campaign with (the last one proclaimed).
    #[must_use]
    pub fn value(&self) -> &str {
        &self.0.value
    }
}
