//! Property tests of the Redlock machine.
//!
//! 1. One machine fed random replies, timings and requests: never a lease without
//!    validity, at most one terminal event per operation, a release to every node
//!    after every failed attempt, rejected inputs change nothing, deadlines are
//!    always in the future.
//! 2. Several clients against simulated Redis masters that run the scripts'
//!    semantics, over a network that delays and drops: with exact clocks, holds never
//!    overlap and fencing tokens strictly increase from one holder to the next.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use fencelock_core::backoff::SplitMix64;
use fencelock_core::redlock::{
    AcquireArgs, Command, Eval, Event, Input, NodeErrorKind, NodeReply, Output, Redlock,
    RedlockConfig, Script, State,
};
use fencelock_core::{Machine, Millis, RequestId};
use proptest::prelude::*;

fn drain(machine: &mut Redlock) -> Vec<Output> {
    std::iter::from_fn(|| machine.poll_output()).collect()
}

fn random_reply(rng: &mut SplitMix64) -> NodeReply {
    match rng.next_u64() % 10 {
        0..=2 => NodeReply::Int { value: 0 },
        3..=5 => NodeReply::Int {
            value: 1 + (rng.next_u64() % 4) as i64,
        },
        6 => NodeReply::Int { value: -1 },
        7 => NodeReply::Error {
            kind: NodeErrorKind::Connection,
            message: String::new(),
        },
        8 => NodeReply::Nil,
        _ => NodeReply::Text { value: "OK".into() },
    }
}

#[derive(Default)]
struct Tally {
    acquired: u32,
    acquire_failed: u32,
    released: u32,
    lost: u32,
    extend_rounds: u32,
    extend_outcomes: u32,
}

/// Checks one drained batch of outputs; `now` is the time of the input.
fn check_batch(batch: &[Output], nodes: u16, now: Millis, tally: &mut Tally) {
    let mut releases = vec![false; usize::from(nodes)];
    let mut extends = 0;
    for output in batch {
        match output {
            Output::Command(Command::Eval(eval)) => match eval.script {
                Script::Release => releases[usize::from(eval.node.0)] = true,
                Script::Extend => extends += 1,
                _ => {}
            },
            Output::Event(event) => match event {
                Event::Acquired { lease, .. } => {
                    assert!(
                        lease.valid_until > now,
                        "lease without validity: {lease:?} at {now}"
                    );
                    tally.acquired += 1;
                }
                Event::AttemptFailed { .. } => {
                    assert!(
                        releases.iter().all(|r| *r),
                        "failed attempt not released everywhere"
                    );
                }
                Event::AcquireFailed { .. } => tally.acquire_failed += 1,
                Event::Released { .. } => tally.released += 1,
                Event::Lost { .. } => tally.lost += 1,
                Event::Extended { .. } | Event::ExtendFailed { .. } => tally.extend_outcomes += 1,
                _ => {}
            },
            _ => {}
        }
    }
    if extends > 0 {
        assert_eq!(extends, nodes, "an extension goes to every node");
        tally.extend_rounds += 1;
    }
}

fn config_for(nodes: u32, flags: u8, seed: u64) -> RedlockConfig {
    let mut config = RedlockConfig::new(nodes, 1_000);
    config.node_timeout = Some(40);
    config.fencing = flags & 1 == 0;
    config.auto_extend = flags & 2 != 0;
    config.rng_seed = seed;
    config.retry.max_attempts = if flags & 4 != 0 { None } else { Some(4) };
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_the_invariants(
        nodes in 1u32..=5,
        flags in 0u8..8,
        seed in any::<u64>(),
        timeout in prop::option::of(50u64..3_000),
        actions in prop::collection::vec((0u8..8, any::<u64>()), 1..250),
    ) {
        let config = config_for(nodes, flags, seed);
        let mut args = AcquireArgs::new(Millis(500), vec!["a".into(), "b".into()], "v".into());
        args.timeout = timeout;
        let mut machine = Redlock::new(&config, args).unwrap();
        let mut rng = SplitMix64::new(seed);
        let mut now = Millis(500);
        let mut tally = Tally::default();
        let mut outstanding: Vec<Eval> = Vec::new();
        let mut answered: Vec<RequestId> = Vec::new();
        let mut batch = drain(&mut machine);
        check_batch(&batch, nodes as u16, now, &mut tally);
        for (action, value) in actions {
            for output in batch.drain(..) {
                if let Output::Command(Command::Eval(eval)) = output {
                    outstanding.push(eval);
                }
            }
            let input = match action {
                0 | 1 if !outstanding.is_empty() => {
                    let eval = outstanding.remove((value % outstanding.len() as u64) as usize);
                    now = now.plus(value % 7);
                    answered.push(eval.req);
                    Input::Reply { now, req: eval.req, node: Some(eval.node), result: random_reply(&mut rng) }
                }
                2 if !answered.is_empty() => {
                    let req = answered[(value % answered.len() as u64) as usize];
                    let before = format!("{machine:?}");
                    let result = machine.handle_input(Input::Reply { now, req, node: None, result: NodeReply::Nil });
                    if let Err(error) = result {
                        prop_assert_eq!(error.code(), "DUPLICATE_REPLY");
                        prop_assert_eq!(before, format!("{machine:?}"));
                    }
                    batch = drain(&mut machine);
                    check_batch(&batch, nodes as u16, now, &mut tally);
                    continue;
                }
                3 => {
                    now = machine.poll_timeout().unwrap_or(now).max(now);
                    Input::Timeout { now }
                }
                4 => {
                    now = now.plus(value % 400);
                    Input::Timeout { now }
                }
                5 => Input::Extend { now },
                6 => Input::Release { now },
                _ => {
                    // Time going backwards, or an unknown request: rejected, unchanged.
                    let before = format!("{machine:?}");
                    let bad = if now.0 > 0 && value % 2 == 0 {
                        Input::Timeout { now: Millis(now.0 - 1) }
                    } else {
                        Input::Reply { now, req: RequestId(1 << 40), node: None, result: NodeReply::Nil }
                    };
                    prop_assert!(machine.handle_input(bad).is_err());
                    prop_assert_eq!(before, format!("{machine:?}"));
                    prop_assert!(machine.poll_output().is_none());
                    continue;
                }
            };
            let state = machine.state();
            let before = format!("{machine:?}");
            match machine.handle_input(input) {
                Ok(()) => {}
                Err(error) => {
                    // Only extend / release in the wrong state may be refused here.
                    prop_assert!(
                        matches!(error.code(), "INVALID_STATE" | "LEASE_LOST"),
                        "unexpected {} in {:?}", error.code(), state
                    );
                    prop_assert_eq!(before, format!("{machine:?}"));
                }
            }
            batch = drain(&mut machine);
            check_batch(&batch, nodes as u16, now, &mut tally);
            if let Some(deadline) = machine.poll_timeout() {
                prop_assert!(deadline > now, "deadline {} not after {}", deadline, now);
            }
            prop_assert!(tally.acquired + tally.acquire_failed <= 1);
            prop_assert!(tally.released <= 1 && tally.lost <= 1);
            prop_assert!(tally.extend_outcomes <= tally.extend_rounds);
            if machine.state().is_terminal() {
                prop_assert_eq!(machine.poll_timeout(), None);
            }
        }
    }
}

// ----------------------------------------------------------------------------
// A small cluster simulation: exact clocks, delays, drops, per-node FIFO order.

/// One Redis master running the semantics of the fencelock scripts.
#[derive(Default)]
struct FakeRedis {
    data: HashMap<String, (String, Option<u64>)>,
}

impl FakeRedis {
    fn get(&mut self, key: &str, now: u64) -> Option<String> {
        match self.data.get(key) {
            Some((_, Some(expires))) if *expires <= now => {
                self.data.remove(key);
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        }
    }

    fn counter(&mut self, key: &str, now: u64) -> Option<i64> {
        self.get(key, now).map(|v| v.parse().unwrap())
    }

    fn run(&mut self, eval: &Eval, now: u64) -> i64 {
        let (keys, args) = (&eval.keys, &eval.args);
        match eval.script {
            Script::Acquire => {
                let n: usize = args[2].parse().unwrap();
                let mut fresh = false;
                for key in &keys[..n] {
                    match self.get(key, now) {
                        None => fresh = true,
                        Some(holder) if holder != args[0] => return 0,
                        Some(_) => {}
                    }
                }
                let counters: Vec<Option<i64>> =
                    keys[n..].iter().map(|k| self.counter(k, now)).collect();
                let mut token = counters.iter().flatten().copied().max().unwrap_or(0);
                if counters.iter().any(Option::is_none) {
                    // A missing counter starts from the master's clock in µs.
                    token = token.max(now as i64 * 1000);
                }
                let ttl: u64 = args[1].parse().unwrap();
                for key in &keys[..n] {
                    self.data
                        .insert(key.clone(), (args[0].clone(), Some(now + ttl)));
                }
                if keys.len() == n {
                    return 1;
                }
                if fresh || token == 0 {
                    token += 1;
                }
                for key in &keys[n..] {
                    self.data.insert(key.clone(), (token.to_string(), None));
                }
                token
            }
            Script::Extend => {
                let mut gone = false;
                for key in keys.iter() {
                    match self.get(key, now) {
                        None => gone = true,
                        Some(holder) if holder != args[0] => return -1,
                        Some(_) => {}
                    }
                }
                if gone {
                    return 0;
                }
                let ttl: u64 = args[1].parse().unwrap();
                for key in keys.iter() {
                    self.data.get_mut(key).unwrap().1 = Some(now + ttl);
                }
                1
            }
            Script::Release => {
                let (mut released, mut other) = (0, false);
                for key in keys.iter() {
                    match self.get(key, now) {
                        Some(holder) if holder == args[0] => {
                            self.data.remove(key);
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
                let n: usize = args[2].parse().unwrap();
                for key in &keys[..n] {
                    if self.get(key, now).as_deref() != Some(args[0].as_str()) {
                        return 0;
                    }
                }
                let token: i64 = args[1].parse().unwrap();
                let highest = keys[n..]
                    .iter()
                    .filter_map(|k| self.counter(k, now))
                    .max()
                    .unwrap_or(0);
                if highest > token {
                    return highest;
                }
                for key in &keys[n..] {
                    self.data.insert(key.clone(), (token.to_string(), None));
                }
                token
            }
            _ => unreachable!("no other script"),
        }
    }
}

enum SimEvent {
    Arrive {
        client: usize,
        gen: u32,
        eval: Eval,
    },
    Reply {
        client: usize,
        gen: u32,
        req: RequestId,
        value: i64,
    },
    Timer {
        client: usize,
        gen: u32,
    },
    Release {
        client: usize,
        gen: u32,
    },
    Start {
        client: usize,
    },
}

struct Client {
    machine: Option<Redlock>,
    gen: u32,
    cycles: u32,
    last_arrival: Vec<u64>,
    hold: Option<(Millis, u64)>,
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    start: u64,
    end: u64,
    token: u64,
}

struct Sim {
    rng: SplitMix64,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, SimEvent>,
    nodes: Vec<FakeRedis>,
    clients: Vec<Client>,
    config: RedlockConfig,
    drop_per_mille: u64,
    max_delay: u64,
    holds: Vec<Hold>,
    fence_rounds: u32,
}

impl Sim {
    fn schedule(&mut self, at: u64, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, event);
    }

    fn delay(&mut self) -> u64 {
        self.rng.next_u64() % (self.max_delay + 1)
    }

    fn start(&mut self, client: usize) {
        let c = &mut self.clients[client];
        c.gen += 1;
        c.cycles += 1;
        let value = format!("c{client}-{}", c.gen);
        let args = AcquireArgs::new(Millis(self.now), vec!["res".into()], value);
        self.clients[client].machine = Some(Redlock::new(&self.config, args).unwrap());
        self.pump(client);
    }

    /// Drains the client's machine and schedules what it asked for.
    fn pump(&mut self, client: usize) {
        let gen = self.clients[client].gen;
        let Some(machine) = self.clients[client].machine.as_mut() else {
            return;
        };
        let outputs = drain(machine);
        let timer = machine.poll_timeout();
        for output in outputs {
            match output {
                Output::Command(Command::Eval(eval)) => {
                    if eval.script == Script::Fence {
                        self.fence_rounds += 1;
                    }
                    let node = usize::from(eval.node.0);
                    let delay = self.delay();
                    let at = (self.now + delay).max(self.clients[client].last_arrival[node]);
                    self.clients[client].last_arrival[node] = at;
                    self.schedule(at, SimEvent::Arrive { client, gen, eval });
                }
                Output::Event(Event::Acquired { lease, .. }) => {
                    let token = lease.fencing_token.unwrap().0;
                    self.clients[client].hold = Some((lease.acquired_at, token));
                    let remaining = lease.valid_until.0 - self.now;
                    // Mostly release inside the validity; sometimes let it expire.
                    if self.rng.next_u64() % 4 != 0 {
                        let at = self.now + self.rng.next_u64() % remaining;
                        self.schedule(at, SimEvent::Release { client, gen });
                    }
                }
                Output::Event(Event::Lost { .. }) => {
                    self.end_hold(client);
                    self.schedule(self.now, SimEvent::Release { client, gen });
                }
                Output::Event(Event::Released { .. } | Event::AcquireFailed { .. }) => {
                    self.clients[client].machine = None;
                    if self.clients[client].cycles < 12 {
                        let pause = self.rng.next_u64() % 300;
                        self.schedule(self.now + pause, SimEvent::Start { client });
                    }
                }
                _ => {}
            }
        }
        if let Some(at) = timer {
            self.schedule(at.0, SimEvent::Timer { client, gen });
        }
    }

    fn end_hold(&mut self, client: usize) {
        if let Some((start, token)) = self.clients[client].hold.take() {
            self.holds.push(Hold {
                start: start.0,
                end: self.now,
                token,
            });
        }
    }

    fn input(&mut self, client: usize, gen: u32, input: Input) {
        let c = &mut self.clients[client];
        if c.gen != gen {
            return;
        }
        let Some(machine) = c.machine.as_mut() else {
            return;
        };
        if let Input::Release { .. } = input {
            if matches!(
                machine.state(),
                State::Releasing | State::Released | State::Failed
            ) {
                return;
            }
            if matches!(machine.state(), State::Held | State::Extending) {
                self.end_hold(client);
            }
        }
        let machine = self.clients[client].machine.as_mut().unwrap();
        machine.handle_input(input).unwrap();
        self.pump(client);
    }

    fn run(&mut self) {
        for client in 0..self.clients.len() {
            let at = self.rng.next_u64() % 50;
            self.schedule(at, SimEvent::Start { client });
        }
        let mut steps = 0;
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            steps += 1;
            assert!(steps < 2_000_000, "simulation did not settle");
            self.now = at;
            let now = Millis(at);
            match self.events.remove(&seq).unwrap() {
                SimEvent::Start { client } => self.start(client),
                SimEvent::Arrive { client, gen, eval } => {
                    let value = self.nodes[usize::from(eval.node.0)].run(&eval, at);
                    if self.rng.next_u64() % 1000 >= self.drop_per_mille {
                        let delay = self.delay();
                        self.schedule(
                            at + delay,
                            SimEvent::Reply {
                                client,
                                gen,
                                req: eval.req,
                                value,
                            },
                        );
                    }
                }
                SimEvent::Reply {
                    client,
                    gen,
                    req,
                    value,
                } => {
                    let result = NodeReply::Int { value };
                    self.input(
                        client,
                        gen,
                        Input::Reply {
                            now,
                            req,
                            node: None,
                            result,
                        },
                    );
                }
                SimEvent::Timer { client, gen } => self.input(client, gen, Input::Timeout { now }),
                SimEvent::Release { client, gen } => {
                    self.input(client, gen, Input::Release { now })
                }
            }
        }
    }
}

fn simulate(seed: u64, nodes: u32, clients: usize, drop_per_mille: u64, max_delay: u64) -> Sim {
    let mut config = RedlockConfig::new(nodes, 1_000);
    config.node_timeout = Some(40);
    config.rng_seed = seed;
    config.retry.max_attempts = Some(6);
    let mut sim = Sim {
        rng: SplitMix64::new(seed),
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        events: HashMap::new(),
        nodes: (0..nodes).map(|_| FakeRedis::default()).collect(),
        clients: (0..clients)
            .map(|_| Client {
                machine: None,
                gen: 0,
                cycles: 0,
                last_arrival: vec![0; nodes as usize],
                hold: None,
            })
            .collect(),
        config,
        drop_per_mille,
        max_delay,
        holds: Vec::new(),
        fence_rounds: 0,
    };
    sim.run();
    sim
}

/// Holds never overlap, and tokens strictly increase from one holder to the next.
fn check_holds(holds: &[Hold]) -> Result<(), String> {
    let mut sorted = holds.to_vec();
    sorted.sort_by_key(|h| (h.start, h.end));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.start < a.end {
            return Err(format!("holds overlap: {a:?} and {b:?}"));
        }
        if b.token <= a.token {
            return Err(format!("token did not increase: {a:?} then {b:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn holders_never_overlap_and_tokens_increase(
        seed in any::<u64>(),
        nodes in prop::sample::select(vec![1u32, 2, 3, 4, 5]),
        clients in 2usize..6,
        drop_per_mille in 0u64..200,
        max_delay in 0u64..60,
    ) {
        let sim = simulate(seed, nodes, clients, drop_per_mille, max_delay);
        prop_assert!(check_holds(&sim.holds).is_ok(), "{}", check_holds(&sim.holds).unwrap_err());
    }
}

#[test]
fn the_simulation_exercises_contention_and_write_back() {
    let mut holds = 0;
    let mut fence_rounds = 0;
    for seed in 0..40 {
        let sim = simulate(seed, 5, 4, 150, 50);
        check_holds(&sim.holds).unwrap();
        holds += sim.holds.len();
        fence_rounds += sim.fence_rounds;
    }
    println!("holds: {holds}, fence write-back commands: {fence_rounds}");
    assert!(holds > 200, "too few holds to mean anything: {holds}");
    assert!(
        fence_rounds > 0,
        "no fencing write-back round was exercised"
    );
}

#[test]
fn the_hold_checker_catches_overlaps_and_stale_tokens() {
    let a = Hold {
        start: 0,
        end: 10,
        token: 1,
    };
    assert!(check_holds(&[
        a,
        Hold {
            start: 5,
            end: 20,
            token: 2
        }
    ])
    .is_err());
    assert!(check_holds(&[
        a,
        Hold {
            start: 10,
            end: 20,
            token: 1
        }
    ])
    .is_err());
    assert!(check_holds(&[
        a,
        Hold {
            start: 10,
            end: 20,
            token: 2
        }
    ])
    .is_ok());
}
