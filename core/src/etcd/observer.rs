//! [`Observer`]: who leads an election (Go's `Election.Leader`), once or as it
//! changes (Go's `Election.Observe`). It holds no lease and writes nothing.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::config::{check_name, EtcdConfig, ObserveArgs, Params, Wait};
use super::protocol::{
    Command, ErrorKind, Event, Input, Leader, ObserveFailure, Output, RangeRequest, Reply, State,
};
use crate::backoff::NextAttempt;
use crate::backoff::SplitMix64;
use crate::error::{ConfigError, UsageError};
use crate::pending::Requests;
use crate::redlock::config::check_start_time;
use crate::types::{earliest, Millis, RequestId};
use crate::Machine;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Range,
    Watch,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Idle,
    Reading { req: RequestId },
    Watching { req: RequestId, recheck_at: Millis },
    Scheduled { at: Millis },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Observing,
    Done,
    Failed,
}

/// Reads the leader of an election: the first-created key under `name + "/"`
/// (any campaigner's, ours or Go's).
///
/// - `follow: false`: one range, one `leader` event, then `done`.
/// - `follow: true`: after each read, watch the whole prefix from the read's
///   revision + 1 (or, in poll mode, wait the poll interval), then read again;
///   a `leader` event is emitted whenever the leader (key, revision, lease or
///   value) differs from the last one reported. Like Go's `Observe`, it reports the
///   latest leader, not necessarily every intermediate one.
/// - A failed request is retried with the retry policy's backoff; after
///   `max_attempts` consecutive failures it ends with `observe_failed`.
/// - [`Input::Release`] stops it (closing the watch).
#[derive(Clone, Debug)]
pub struct Observer {
    params: Params,
    prefix: Arc<str>,
    range_end: Arc<str>,
    follow: bool,
    rng: SplitMix64,
    now: Millis,
    reqs: Requests<Tag>,
    failures: u32,
    /// The last leader reported (`None`: nothing reported yet).
    last: Option<Option<Leader>>,
    step: Step,
    phase: Phase,
    out: VecDeque<Output>,
}

impl Observer {
    /// Validates `config` and `args`, then sends the first read at `args.now`.
    pub fn new(config: &EtcdConfig, args: ObserveArgs) -> Result<Self, ConfigError> {
        let params = config.validate()?;
        check_start_time(args.now)?;
        check_name(&args.name)?;
        let mut observer = Observer {
            params,
            prefix: Arc::from(format!("{}/", args.name)),
            range_end: Arc::from(format!("{}0", args.name)),
            follow: args.follow,
            rng: SplitMix64::new(config.rng_seed),
            now: args.now,
            reqs: Requests::new(),
            failures: 0,
            last: None,
            step: Step::Idle,
            phase: Phase::Observing,
            out: VecDeque::with_capacity(2),
        };
        observer.read();
        Ok(observer)
    }

    /// The machine's state: `observing`, `done` or `failed`.
    #[must_use]
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Observing => State::Observing,
            Phase::Done => State::Done,
            Phase::Failed => State::Failed,
        }
    }

    /// The last leader reported: `None` before the first read, `Some(None)` when
    /// there was no leader.
    #[must_use]
    pub fn leader(&self) -> Option<Option<&Leader>> {
        self.last.as_ref().map(Option::as_ref)
    }

    fn read(&mut self) {
        let deadline = self.now.plus(self.params.request_timeout);
        let req = self.reqs.issue(Tag::Range, self.now, Some(deadline));
        self.step = Step::Reading { req };
        self.out.push_back(Output::Command(Command::Range {
            req,
            range: RangeRequest::oldest_in(&self.prefix, &self.range_end),
        }));
    }

    fn stop_step(&mut self) {
        match self.step {
            Step::Reading { req } => self.reqs.give_up(req),
            Step::Watching { req, .. } => {
                self.reqs.give_up(req);
                self.out
                    .push_back(Output::Command(Command::CancelWatch { watch: req }));
            }
            Step::Idle | Step::Scheduled { .. } => {}
        }
        self.step = Step::Idle;
    }

    fn on_reply(&mut self, req: RequestId, reply: Reply) {
        let Some((tag, _sent)) = self.reqs.answer(req) else {
            return;
        };
        self.step = Step::Idle;
        let problem = match (tag, reply) {
            (_, Reply::Error { kind, message }) => Some((kind, message)),
            (Tag::Range, Reply::Range { revision, kvs }) => match kvs.into_iter().next() {
                Some(kv) if kv.create_revision == 0 => Some((
                    ErrorKind::Protocol,
                    String::from("leader range returned a key without a create revision"),
                )),
                first => {
                    let leader = first.map(|kv| Leader {
                        key: kv.key,
                        revision: kv.create_revision,
                        lease: kv.lease,
                        value: kv.value,
                    });
                    self.on_leader(leader, revision);
                    None
                }
            },
            (
                Tag::Watch,
                Reply::Watch { .. } | Reply::WatchCompacted { .. } | Reply::WatchCanceled { .. },
            ) => {
                self.read();
                None
            }
            (tag, other) => Some((
                ErrorKind::Protocol,
                format!(
                    "unexpected reply to {}: {}",
                    match tag {
                        Tag::Range => "range",
                        Tag::Watch => "watch",
                    },
                    other.name()
                ),
            )),
        };
        if let Some((kind, message)) = problem {
            self.on_failure(req, kind, message);
        }
    }

    fn on_leader(&mut self, leader: Option<Leader>, revision: u64) {
        self.failures = 0;
        if self.last.as_ref() != Some(&leader) {
            self.last = Some(leader.clone());
            self.out.push_back(Output::Event(Event::Leader { leader }));
        }
        if !self.follow {
            self.phase = Phase::Done;
            return;
        }
        match self.params.wait {
            Wait::Watch { recheck } => {
                let req = self.reqs.issue(Tag::Watch, self.now, None);
                self.step = Step::Watching {
                    req,
                    recheck_at: self.now.plus(recheck),
                };
                self.out.push_back(Output::Command(Command::Watch {
                    req,
                    key: self.prefix.clone(),
                    range_end: Some(self.range_end.clone()),
                    start_revision: revision.saturating_add(1),
                }));
            }
            Wait::Poll { interval } => {
                self.step = Step::Scheduled {
                    at: self.now.plus(interval),
                };
            }
        }
    }

    fn on_failure(&mut self, req: RequestId, kind: ErrorKind, message: String) {
        self.out
            .push_back(Output::Event(Event::RequestError { req, kind, message }));
        self.failures += 1;
        let next = self
            .params
            .retry
            .next_attempt(self.failures, self.now, None, &mut self.rng);
        if let NextAttempt::At(at) = next {
            self.step = Step::Scheduled { at };
        } else {
            self.stop_step();
            self.phase = Phase::Failed;
            self.out.push_back(Output::Event(Event::ObserveFailed {
                reason: ObserveFailure::AttemptsExhausted,
            }));
        }
    }

    fn advance(&mut self) {
        while self.phase == Phase::Observing && self.advance_once() {}
    }

    fn advance_once(&mut self) -> bool {
        let now = self.now;
        if let Some((req, _)) = self.reqs.time_out(now) {
            self.step = Step::Idle;
            let message = format!("no reply within {} ms", self.params.request_timeout);
            self.on_failure(req, ErrorKind::Timeout, message);
            return true;
        }
        match self.step {
            Step::Scheduled { at } if at <= now => {
                self.read();
                true
            }
            Step::Watching { recheck_at, .. } if recheck_at <= now => {
                self.stop_step();
                self.read();
                true
            }
            _ => false,
        }
    }
}

impl Machine for Observer {
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
                if self.phase == Phase::Observing {
                    self.on_reply(req, result);
                } else {
                    let _ = self.reqs.answer(req);
                }
            }
            Input::Timeout { .. } => self.now = now,
            Input::Release { .. } => {
                if self.phase != Phase::Observing {
                    return Err(UsageError::InvalidState {
                        input: "release",
                        state: self.state().name(),
                    });
                }
                self.now = now;
                self.stop_step();
                self.reqs.give_up_all();
                self.phase = Phase::Done;
            }
            Input::Proclaim { .. } => {
                return Err(UsageError::UnsupportedInput {
                    input: "proclaim",
                    machine: "etcd_observer",
                })
            }
        }
        self.advance();
        Ok(())
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        if self.phase != Phase::Observing {
            return None;
        }
        let step = match self.step {
            Step::Scheduled { at } => Some(at),
            Step::Watching { recheck_at, .. } => Some(recheck_at),
            _ => None,
        };
        earliest(self.reqs.next_deadline(), step)
    }
}
