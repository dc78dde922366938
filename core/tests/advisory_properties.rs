//! Property tests for the PostgreSQL advisory-lock machine.
//!
//! 1. Random inputs (rows of any shape, errors, late / duplicate / unknown results,
//!    session loss, releases, time going backwards) never panic, and the machine
//!    keeps its promises.
//! 2. A simulated server (backends with session-level advisory locks that stack,
//!    the fence table created on first use, `pg_terminate_backend`, results that
//!    come too late) with several clients: an `acquired` token was bumped by the
//!    machine's backend while that backend held the lock (so tokens increase from
//!    one server-side hold to the next), no token is handed out twice, the lock
//!    never stacks, and once every machine has finished no live backend holds the
//!    lock (nothing stranded).

use std::collections::{BTreeMap, VecDeque};

use fencelock_core::advisory::{
    AdvisoryConfig, Command, ErrorKind, Event, Input, Lock, LockArgs, Output, ReleaseOutcome,
    Reply, SqlValue, Statement,
};
use fencelock_core::backoff::{RetryPolicy, SplitMix64};
use fencelock_core::{Machine, Millis, RequestId};
use proptest::prelude::*;

// ------------------------------------------------------- 1. random inputs

fn arb_value() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        Just(SqlValue::Null),
        any::<bool>().prop_map(SqlValue::Bool),
        prop_oneof![Just(0i64), Just(-1), 1i64..10, Just(4242), Just(i64::MAX)]
            .prop_map(SqlValue::Int),
        prop_oneof![
            Just("locked"),
            Just("held"),
            Just("busy"),
            Just("unlocked"),
            Just("not_held"),
            Just("7"),
            Just("4242"),
            Just("x")
        ]
        .prop_map(|s| SqlValue::Text(s.to_string())),
    ]
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        4 => prop::collection::vec(arb_value(), 0..4).prop_map(|values| Reply::Row { values }),
        1 => Just(Reply::Done),
        2 => (prop_oneof![
                Just(ErrorKind::Connection), Just(ErrorKind::Server),
                Just(ErrorKind::Timeout), Just(ErrorKind::Protocol)
             ], prop_oneof![Just(""), Just("42P01"), Just("57P01")])
            .prop_map(|(kind, code)| Reply::error(kind, code, "x")),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Reply {
        pick: usize,
        bogus: bool,
        dt: u64,
        reply: Reply,
    },
    Timeout {
        dt: u64,
    },
    Release {
        dt: u64,
    },
    SessionLost {
        dt: u64,
    },
    Backwards,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (any::<usize>(), prop::bool::weighted(0.05), 0u64..2_000, arb_reply())
            .prop_map(|(pick, bogus, dt, reply)| Step::Reply { pick, bogus, dt, reply }),
        3 => (0u64..3_000).prop_map(|dt| Step::Timeout { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::Release { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::SessionLost { dt }),
        1 => Just(Step::Backwards),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lock_never_panics_and_keeps_its_promises(
        try_lock in any::<bool>(), steps in prop::collection::vec(arb_step(), 0..50)
    ) {
        let mut config = AdvisoryConfig::new();
        config.request_timeout = Some(500);
        config.check_interval = Some(700);
        let mut args = LockArgs::new(Millis(1_000), "p").with_timeout(20_000);
        args.try_lock = try_lock;
        let mut machine = Lock::new(&config, args).unwrap();
        let mut now = 1_000u64;
        let mut issued: Vec<RequestId> = Vec::new();
        let (mut acquired, mut terminal, mut lost) = (0, 0, false);
        let mut collect = |machine: &mut Lock, issued: &mut Vec<RequestId>| {
            while let Some(output) = machine.poll_output() {
                match output {
                    Output::Command(command) => issued.push(command.req()),
                    Output::Event(event) => match event {
                        Event::Acquired { .. } => {
                            assert!(!lost, "acquired after lost");
                            acquired += 1;
                        }
                        Event::Lost { .. } => lost = true,
                        Event::AcquireFailed { .. } | Event::Released { .. } => terminal += 1,
                        _ => {}
                    },
                    _ => {}
                }
            }
            assert!(acquired <= 1, "acquired twice");
            assert!(terminal <= 1, "two terminal events");
        };
        collect(&mut machine, &mut issued);
        for step in steps {
            let before = (machine.state(), machine.poll_timeout());
            let input = match step {
                Step::Reply { pick, bogus, dt, reply } => {
                    now += dt;
                    let req = if bogus || issued.is_empty() { RequestId(10_000) } else { issued[pick % issued.len()] };
                    Input::Reply { now: Millis(now), req, result: reply }
                }
                Step::Timeout { dt } => { now += dt; Input::Timeout { now: Millis(now) } }
                Step::Release { dt } => { now += dt; Input::Release { now: Millis(now) } }
                Step::SessionLost { dt } => { now += dt; Input::SessionLost { now: Millis(now) } }
                Step::Backwards => Input::Timeout { now: Millis(now.saturating_sub(1).max(1)) },
            };
            match machine.handle_input(input) {
                Ok(()) => collect(&mut machine, &mut issued),
                Err(_) => {
                    assert_eq!(before, (machine.state(), machine.poll_timeout()));
                    assert!(machine.poll_output().is_none());
                }
            }
            let state = machine.state().name();
            if !matches!(state, "released" | "failed" | "lost") {
                assert!(machine.poll_timeout().is_some(), "stalled in {state}");
            }
        }
    }
}

// ------------------------------------------------ 2. a simulated PostgreSQL

#[derive(Default)]
struct Server {
    table: bool,
    counter: i64,
    /// Advisory lock: (holding backend, stack count).
    holder: Option<(u32, u32)>,
    alive: BTreeMap<u32, bool>,
    next_pid: u32,
    /// Each token: the backend whose fence bumped it, and whether that backend
    /// held the lock then (the only thing the server can promise).
    fences: BTreeMap<i64, (u32, bool)>,
}

impl Server {
    fn connect(&mut self) -> u32 {
        self.next_pid += 1;
        self.alive.insert(self.next_pid, true);
        self.next_pid
    }

    fn terminate(&mut self, pid: u32) {
        self.alive.insert(pid, false);
        if self.holder.is_some_and(|(p, _)| p == pid) {
            self.holder = None;
        }
    }

    fn run(&mut self, pid: u32, command: &Command) -> Reply {
        if !self.alive.get(&pid).copied().unwrap_or(false) {
            return Reply::error(ErrorKind::Connection, "57P01", "terminated");
        }
        let Command::Query {
            statement, params, ..
        } = command
        else {
            return Reply::error(ErrorKind::Server, "XX000", "unknown");
        };
        let row = |v: SqlValue| Reply::Row {
            values: vec![v, SqlValue::Int(i64::from(pid))],
        };
        let text = |t: &str| SqlValue::Text(t.to_string());
        match statement {
            Statement::TryLock => match self.holder {
                Some((p, _)) if p == pid => row(text("held")),
                Some(_) => row(text("busy")),
                None => {
                    self.holder = Some((pid, 1));
                    row(text("locked"))
                }
            },
            Statement::Fence => {
                if !self.table {
                    return Reply::error(ErrorKind::Server, "42P01", "no table");
                }
                self.counter += 1;
                let holding = self.holder.is_some_and(|(p, _)| p == pid);
                self.fences.insert(self.counter, (pid, holding));
                row(SqlValue::Int(self.counter))
            }
            Statement::Setup => {
                self.table = true;
                Reply::Done
            }
            Statement::Check => row(SqlValue::Bool(self.holder.is_some_and(|(p, _)| p == pid))),
            Statement::Unlock => {
                let guard = params.get(1).and_then(SqlValue::as_int).unwrap_or(0);
                if guard != 0 && guard != i64::from(pid) {
                    return row(SqlValue::Null);
                }
                match self.holder {
                    Some((p, n)) if p == pid => {
                        self.holder = if n > 1 { Some((p, n - 1)) } else { None };
                        row(text("unlocked"))
                    }
                    _ => row(text("not_held")),
                }
            }
            _ => Reply::error(ErrorKind::Server, "XX000", "unknown"),
        }
    }
}

struct Client {
    pid: u32,
    machine: Option<Lock>,
    mid: u64,
    /// Results due at a time, for a machine, FIFO (one session runs in order).
    inbox: VecDeque<(u64, u64, Input)>,
    hold_until: Option<u64>,
    reconnect: bool,
}

#[allow(clippy::needless_range_loop)] // clients index each other
fn run_simulation(seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let mut roll = |n: u64| rng.next_u64() % n;
    let mut server = Server::default();
    let mut config = AdvisoryConfig::new();
    config.request_timeout = Some(300);
    config.check_interval = Some(500);
    config.retry = RetryPolicy::fixed(40, 20).with_max_attempts(None);
    config.rng_seed = seed;
    let n = 2 + roll(3) as usize;
    let mut clients: Vec<Client> = (0..n)
        .map(|_| Client {
            pid: server.connect(),
            machine: None,
            mid: 0,
            inbox: VecDeque::new(),
            hold_until: None,
            reconnect: false,
        })
        .collect();
    let mut now = 1_000u64;
    let end_faults = 40_000;
    let end = 70_000;
    let mut tokens = std::collections::BTreeSet::new();
    let mut acquisitions = 0;
    while now < end {
        now += 1 + roll(30);
        let faults = now < end_faults;
        for i in 0..n {
            if faults && roll(1_500) == 0 {
                let pid = clients[i].pid;
                server.terminate(pid);
                if roll(2) == 0 {
                    let mid = clients[i].mid;
                    clients[i].inbox.push_back((
                        now + roll(50),
                        mid,
                        Input::SessionLost { now: Millis(now) },
                    ));
                }
            }
            let idle = clients[i]
                .machine
                .as_ref()
                .is_none_or(|m| m.state().is_terminal());
            if idle && clients[i].inbox.is_empty() && now < end - 15_000 {
                let c = &mut clients[i];
                if c.reconnect || !server.alive[&c.pid] {
                    c.pid = server.connect();
                    c.reconnect = false;
                }
                let args = LockArgs::new(Millis(now), "orders").with_timeout(15_000);
                c.machine = Some(Lock::new(&config, args).unwrap());
                c.mid += 1;
                c.hold_until = None;
            }
            let mut inputs = Vec::new();
            while clients[i]
                .inbox
                .front()
                .is_some_and(|(at, _, _)| *at <= now)
            {
                let (_, mid, input) = clients[i].inbox.pop_front().unwrap();
                if mid == clients[i].mid {
                    inputs.push(input);
                }
            }
            let hold_over = clients[i].hold_until.is_some_and(|h| now >= h);
            let Some(machine) = clients[i].machine.as_mut() else {
                continue;
            };
            if machine.poll_timeout().is_some_and(|t| t.0 <= now) {
                inputs.push(Input::Timeout { now: Millis(now) });
            }
            let state = machine.state().name();
            if (state == "held" || state == "uncertain") && hold_over || state == "lost" {
                inputs.push(Input::Release { now: Millis(now) });
            }
            if matches!(state, "acquiring" | "waiting") && roll(60) == 0 {
                inputs.push(Input::Release { now: Millis(now) });
            }
            for input in inputs {
                let input = retime(input, now);
                let machine = clients[i].machine.as_mut().unwrap();
                if let Err(e) = machine.handle_input(input.clone()) {
                    assert!(
                        matches!(input, Input::Release { .. }),
                        "seed {seed}: {e} for {input:?}"
                    );
                    continue;
                }
                let outputs: Vec<Output> = std::iter::from_fn(|| machine.poll_output()).collect();
                for output in outputs {
                    match output {
                        Output::Command(command) => {
                            let c = &clients[i];
                            let reply = server.run(c.pid, &command);
                            // Most results come quickly; some after the machine gave up.
                            let delay = if faults && roll(25) == 0 {
                                300 + roll(400)
                            } else {
                                1 + roll(10)
                            };
                            let at = (now + delay).max(c.inbox.back().map_or(0, |(at, _, _)| *at));
                            let mid = c.mid;
                            clients[i].inbox.push_back((
                                at,
                                mid,
                                Input::Reply {
                                    now: Millis(at),
                                    req: command.req(),
                                    result: reply,
                                },
                            ));
                        }
                        Output::Event(Event::Acquired { lock, .. }) => {
                            // The token was bumped by our backend while it held the lock
                            // (it may have lost it since: no lease; the next check says so,
                            // and the successor's token is higher).
                            let token = lock.token.0 as i64;
                            assert_eq!(
                                server.fences.get(&token),
                                Some(&(lock.pid, true)),
                                "seed {seed}: token {token} not fenced under the lock"
                            );
                            if server.holder.is_some_and(|(p, _)| p == lock.pid) {
                                assert_eq!(
                                    server.holder.map(|(_, n)| n),
                                    Some(1),
                                    "seed {seed}: stacked"
                                );
                            }
                            assert!(
                                tokens.insert(lock.token.0),
                                "seed {seed}: token {token} handed out twice"
                            );
                            acquisitions += 1;
                            let hold = roll(1_500);
                            clients[i].hold_until = Some((now + hold).min(end - 5_000));
                        }
                        // An unconfirmed release: close the connection (the host's job).
                        Output::Event(Event::Released { outcome, .. })
                            if !matches!(
                                outcome,
                                ReleaseOutcome::Released | ReleaseOutcome::NotHeld
                            ) =>
                        {
                            clients[i].reconnect = true;
                        }
                        Output::Event(_) => {}
                        _ => {}
                    }
                }
            }
        }
    }
    for (i, c) in clients.iter().enumerate() {
        let state = c.machine.as_ref().map_or("none", |m| m.state().name());
        assert!(
            matches!(state, "released" | "failed" | "none"),
            "seed {seed}: client {i} ends {state}"
        );
    }
    if let Some((pid, _)) = server.holder {
        assert!(
            !server.alive[&pid],
            "seed {seed}: backend {pid} still holds the lock"
        );
    }
    assert!(acquisitions > 0, "seed {seed}: nobody ever held the lock");
}

fn retime(input: Input, now: u64) -> Input {
    let now = Millis(now);
    match input {
        Input::Reply { req, result, .. } => Input::Reply { now, req, result },
        Input::SessionLost { .. } => Input::SessionLost { now },
        Input::Timeout { .. } => Input::Timeout { now },
        Input::Release { .. } => Input::Release { now },
        other => other,
    }
}

#[test]
fn simulated_clients_get_increasing_tokens_and_strand_nothing() {
    for seed in 0..200 {
        run_simulation(seed);
    }
}
