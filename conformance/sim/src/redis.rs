//! Redlock in the simulator: simulated Redis masters ([`RedisNode`]) that run the
//! effects of the core's four Lua scripts, and the [`RedlockKind`] adapter that
//! drives the real `Redlock` machine.
//!
//! A node keeps keys with TTLs that expire by **its own clock** (millisecond
//! precision, Redis's rule: a key set with `PX ttl` at `t` is gone once the
//! node's clock passes `t + ttl`). It restarts with persistence (AOF with
//! `appendfsync always`: every acknowledged write survives) or without (it comes
//! back empty). Two options exist only here, in the simulated server, never in the
//! core: alternative counter rules ([`CounterRule::Plain`], the first version of
//! the acquire script, and [`CounterRule::TimeSeeded`], `max(counter + 1, now_us)`),
//! kept to compare them with the core's, and planted bugs ([`ServerBugs`]) that
//! prove the checkers fire.

use std::collections::HashMap;
use std::sync::Arc;

use fencelock_core::redlock::{
    AcquireArgs, Command, Event, Input, NodeErrorKind, NodeReply, Output, Redlock, RedlockConfig,
    Script, State,
};
use fencelock_core::{Millis, RequestId};

use crate::kind::{Caller, LockEvent, LockKind, ServerModel, Start, Step, Unreachable};

/// Most keys one script call carries in the simulator (4 resources, with counters).
pub const MAX_KEYS: usize = 8;

/// How a node bumps a fencing counter when the acquire script sets a free key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterRule {
    /// The core's acquire script: `counter + 1`, but a missing counter (first use,
    /// or a node that lost its data) starts from the node's clock in microseconds:
    /// nodes agree in the steady state (one round trip) and a node that restarts
    /// empty resumes above old tokens if its clock is not behind them.
    Core,
    /// `counter + 1` even for a missing counter (the first version of the acquire
    /// script): a node that restarts empty counts from zero again. Comparison only.
    Plain,
    /// `max(counter + 1, node_now_us)` on every bump: also resumes above old
    /// tokens, but nodes never agree, so nearly every acquisition needs the
    /// write-back round. Comparison only.
    TimeSeeded,
}

/// Bugs that can be planted in the simulated scripts (never in the core), to show
/// that the checkers catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerBugs {
    /// The fence script writes the token even when a counter is already higher.
    pub fence_skips_higher_check: bool,
    /// The fence script writes the token even when our value no longer holds the key.
    pub fence_skips_holder_check: bool,
    /// The acquire script bumps the counter only when it is missing (it forgets
    /// to bump when it takes a free key).
    pub acquire_skips_bump: bool,
    /// Lock keys are set without a TTL (`SET` without `PX`, `PEXPIRE` ignored).
    pub ignores_ttl: bool,
}

/// A parsed script call: key and value strings interned to small ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisRequest {
    /// Which script.
    pub script: Script,
    /// Interned keys; the first `locks` are lock keys, the rest counters.
    pub keys: [u32; MAX_KEYS],
    /// Number of keys.
    pub len: u8,
    /// Number of lock keys.
    pub locks: u8,
    /// Interned lock value (`ARGV[1]`).
    pub value: u32,
    /// `PX` / `PEXPIRE` argument (acquire, extend).
    pub ttl: u64,
    /// Token argument (fence).
    pub token: u64,
}

/// A node's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisReply {
    /// The script's integer reply.
    Int(i64),
    /// The connection was refused (node down).
    Refused,
}

#[derive(Clone, Copy, Debug)]
enum Val {
    Lock(u32),
    Counter(u64),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    val: Val,
    /// Node-local ms after which the key is gone (`u64::MAX`: no TTL).
    expires: u64,
}

/// One simulated Redis master.
#[derive(Clone, Debug)]
pub struct RedisNode {
    store: Vec<Option<Entry>>,
    rule: CounterRule,
    bugs: ServerBugs,
    /// Scripts run (for statistics).
    pub executed: u64,
}

impl RedisNode {
    /// An empty node.
    #[must_use]
    pub fn new(rule: CounterRule, bugs: ServerBugs) -> Self {
        RedisNode {
            store: Vec::new(),
            rule,
            bugs,
            executed: 0,
        }
    }

    fn get(&mut self, key: u32, now_ms: u64) -> Option<Val> {
        let slot = self.store.get_mut(key as usize)?;
        match slot {
            Some(entry) if now_ms > entry.expires => {
                *slot = None;
                None
            }
            Some(entry) => Some(entry.val),
            None => None,
        }
    }

    fn set(&mut self, key: u32, val: Val, expires: u64) {
        let expires = if self.bugs.ignores_ttl {
            u64::MAX
        } else {
            expires
        };
        let index = key as usize;
        if self.store.len() <= index {
            self.store.resize(index + 1, None);
        }
        self.store[index] = Some(Entry { val, expires });
    }

    fn counter(&mut self, key: u32, now_ms: u64) -> u64 {
        match self.get(key, now_ms) {
            Some(Val::Counter(n)) => n,
            _ => 0,
        }
    }

    /// The current fencing counter of `key` (0 if absent), for tests and traces.
    #[must_use]
    pub fn peek_counter(&self, key: u32) -> u64 {
        match self.store.get(key as usize) {
            Some(Some(Entry {
                val: Val::Counter(n),
                ..
            })) => *n,
            _ => 0,
        }
    }
}

impl ServerModel for RedisNode {
    type Request = RedisRequest;
    type Reply = RedisReply;

    fn serve(&mut self, now_us: u64, _caller: Caller, r: &RedisRequest) -> Option<RedisReply> {
        Some(self.execute(now_us, r))
    }

    fn restart(&mut self, persist: bool) {
        if !persist {
            self.store.clear();
        }
    }
}

impl RedisNode {
    /// Runs one script call at the node's local time `now_us` (microseconds).
    pub fn execute(&mut self, now_us: u64, r: &RedisRequest) -> RedisReply {
        self.executed += 1;
        let now = now_us / 1_000;
        let keys = &r.keys[..usize::from(r.len)];
        let (locks, counters) = keys.split_at(usize::from(r.locks));
        let reply = match r.script {
            Script::Acquire => {
                let mut fresh = false;
                for &key in locks {
                    match self.get(key, now) {
                        None => fresh = true,
                        Some(Val::Lock(v)) if v == r.value => {}
                        Some(_) => return RedisReply::Int(0),
                    }
                }
                let mut missing = false;
                let mut token = 0;
                for &k in counters {
                    match self.get(k, now) {
                        Some(Val::Counter(n)) => token = token.max(n),
                        _ => missing = true,
                    }
                }
                for &key in locks {
                    self.set(key, Val::Lock(r.value), now.saturating_add(r.ttl));
                }
                if counters.is_empty() {
                    return RedisReply::Int(1);
                }
                if self.rule == CounterRule::Core && missing {
                    token = token.max(now_us);
                }
                // The planted bug forgets `fresh`: it bumps only a missing counter.
                if (fresh && !self.bugs.acquire_skips_bump) || token == 0 {
                    token = match self.rule {
                        CounterRule::Core | CounterRule::Plain => token + 1,
                        CounterRule::TimeSeeded => (token + 1).max(now_us),
                    };
                }
                for &key in counters {
                    self.set(key, Val::Counter(token), u64::MAX);
                }
                token as i64
            }
            Script::Extend => {
                let mut gone = false;
                for &key in locks {
                    match self.get(key, now) {
                        None => gone = true,
                        Some(Val::Lock(v)) if v == r.value => {}
                        Some(_) => return RedisReply::Int(-1),
                    }
                }
                if gone {
                    return RedisReply::Int(0);
                }
                for &key in locks {
                    self.set(key, Val::Lock(r.value), now.saturating_add(r.ttl));
                }
                1
            }
            Script::Release => {
                let (mut released, mut other) = (0, false);
                for &key in locks {
                    match self.get(key, now) {
                        Some(Val::Lock(v)) if v == r.value => {
                            self.store[key as usize] = None;
                            released += 1;
                        }
                        Some(_) => other = true,
                        None => {}
                    }
                }
                if other {
                    -1
                } else {
                    released
                }
            }
            Script::Fence => {
                if !self.bugs.fence_skips_holder_check {
                    for &key in locks {
                        match self.get(key, now) {
                            Some(Val::Lock(v)) if v == r.value => {}
                            _ => return RedisReply::Int(0),
                        }
                    }
                }
                let highest = counters
                    .iter()
                    .map(|&k| self.counter(k, now))
                    .max()
                    .unwrap_or(0);
                if highest > r.token && !self.bugs.fence_skips_higher_check {
                    return RedisReply::Int(highest as i64);
                }
                for &key in counters {
                    self.set(key, Val::Counter(r.token), u64::MAX);
                }
                r.token as i64
            }
            _ => return RedisReply::Int(-2),
        };
        RedisReply::Int(reply)
    }
}

/// Parsed forms of the argument arrays a machine shares between its commands.
#[derive(Clone)]
struct Parsed {
    keys: Arc<[String]>,
    args: Arc<[String]>,
    request: RedisRequest,
}

/// Redlock as a [`LockKind`]: a configuration template, plus the interner that
/// turns key and value strings into the ids simulated nodes store.
#[derive(Clone)]
pub struct RedlockKind {
    /// Every machine starts from this configuration (with its own `rng_seed`).
    pub config: RedlockConfig,
    names: HashMap<String, u32>,
    cache: Vec<Parsed>,
    cache_next: usize,
}

impl RedlockKind {
    /// A kind whose machines use `config`.
    #[must_use]
    pub fn new(config: RedlockConfig) -> Self {
        RedlockKind {
            config,
            names: HashMap::new(),
            cache: Vec::with_capacity(16),
            cache_next: 0,
        }
    }

    /// The id of a key or value string.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.names.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.insert(name.to_owned(), id);
        id
    }

    fn parse(
        &mut self,
        script: Script,
        keys: &Arc<[String]>,
        args: &Arc<[String]>,
    ) -> RedisRequest {
        if let Some(hit) = self
            .cache
            .iter()
            .find(|p| Arc::ptr_eq(&p.keys, keys) && Arc::ptr_eq(&p.args, args))
        {
            let mut request = hit.request;
            request.script = script;
            return request;
        }
        let mut request = RedisRequest {
            script,
            keys: [0; MAX_KEYS],
            len: keys.len().min(MAX_KEYS) as u8,
            locks: 0,
            value: self.intern(&args[0]),
            ttl: 0,
            token: 0,
        };
        assert!(
            keys.len() <= MAX_KEYS,
            "the simulator locks at most 4 resources"
        );
        for (slot, key) in request.keys.iter_mut().zip(keys.iter()) {
            *slot = self.intern(key);
        }
        request.locks = match script {
            Script::Acquire | Script::Fence => args[2].parse().expect("count argument"),
            _ => keys.len() as u8,
        };
        match script {
            Script::Acquire | Script::Extend => request.ttl = args[1].parse().expect("ttl"),
            Script::Fence => request.token = args[1].parse().expect("token"),
            _ => {}
        }
        let parsed = Parsed {
            keys: keys.clone(),
            args: args.clone(),
            request,
        };
        if self.cache.len() < 16 {
            self.cache.push(parsed);
        } else {
            self.cache[self.cache_next] = parsed;
            self.cache_next = (self.cache_next + 1) % 16;
        }
        request
    }

    fn args(&self, start: &Start) -> AcquireArgs {
        let args = AcquireArgs::new(start.now, start.resources.clone(), start.value.clone());
        match start.timeout {
            Some(t) => args.with_timeout(t),
            None => args,
        }
    }

    fn config_for(&self, start: &Start) -> RedlockConfig {
        let mut config = self.config.clone();
        config.rng_seed = start.rng_seed;
        config
    }
}

impl LockKind for RedlockKind {
    type Machine = Redlock;
    type Request = RedisRequest;
    type Reply = RedisReply;
    type Server = RedisNode;

    fn machine_name(&self) -> &'static str {
        "redlock"
    }

    fn start(&mut self, start: &Start) -> Redlock {
        let config = self.config_for(start);
        Redlock::new(&config, self.args(start))
            .unwrap_or_else(|e| panic!("simulator built an invalid Redlock config: {e}"))
    }

    fn step(&mut self, output: &Output) -> Step<RedisRequest> {
        match output {
            Output::Command(Command::Eval(eval)) => Step::Send {
                node: eval.node.0,
                req: eval.req.0,
                request: self.parse(eval.script, &eval.keys, &eval.args),
            },
            Output::Event(event) => Step::Event(match event {
                Event::Acquired { lease, .. } => LockEvent::Acquired {
                    token: lease.fencing_token.map(|t| t.0),
                    valid_until: lease.valid_until,
                },
                Event::Extended { valid_until } => LockEvent::Extended {
                    valid_until: *valid_until,
                },
                Event::Lost { .. } => LockEvent::Lost,
                Event::Released { .. } => LockEvent::Released,
                Event::AcquireFailed { .. } => LockEvent::AcquireFailed,
                Event::AttemptFailed { .. } => LockEvent::AttemptFailed,
                _ => LockEvent::Other,
            }),
            _ => Step::Event(LockEvent::Other),
        }
    }

    fn reply_input(&self, now: Millis, req: u64, _node: u16, reply: RedisReply) -> Input {
        let result = match reply {
            RedisReply::Int(value) => NodeReply::Int { value },
            RedisReply::Refused => NodeReply::Error {
                kind: NodeErrorKind::Connection,
                message: String::from("connection refused"),
            },
        };
        Input::Reply {
            now,
            req: RequestId(req),
            node: None,
            result,
        }
    }

    fn unreachable(&self, why: Unreachable) -> RedisReply {
        match why {
            Unreachable::Refused => RedisReply::Refused,
        }
    }

    fn is_write_back(&self, request: &RedisRequest) -> bool {
        request.script == Script::Fence
    }

    fn timeout_input(&self, now: Millis) -> Input {
        Input::Timeout { now }
    }

    fn release_input(&self, now: Millis) -> Input {
        Input::Release { now }
    }

    fn holds(&self, machine: &Redlock) -> bool {
        matches!(machine.state(), State::Held | State::Extending)
    }

    fn can_release(&self, machine: &Redlock) -> bool {
        !matches!(
            machine.state(),
            State::Releasing | State::Released | State::Failed
        )
    }

    fn vector_header(&self, start: &Start) -> (serde_json::Value, serde_json::Value) {
        let config = serde_json::to_value(self.config_for(start)).expect("config serializes");
        let init = serde_json::to_value(self.args(start)).expect("args serialize");
        (config, init)
    }

    fn input_json(&self, input: &Input) -> serde_json::Value {
        serde_json::to_value(input).expect("input serializes")
    }

    fn output_json(&self, output: &Output) -> serde_json::Value {
        serde_json::to_value(output).expect("output serializes")
    }

    fn state_name(&self, machine: &Redlock) -> &'static str {
        machine.state().name()
    }
}
