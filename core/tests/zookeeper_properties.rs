//! Property tests for the ZooKeeper machines.
//!
//! 1. Random inputs of every kind (right, wrong, late, duplicate, unknown replies,
//!    watch notifications, connection changes) at random times never panic, and
//!    the machine keeps its promises (one terminal event, no `acquired` after
//!    `lost`, rejected inputs change nothing, never stalled while it waits).
//! 2. A simulated ZooKeeper (ephemeral sequential nodes, per-session FIFO replies,
//!    one-shot watches, sessions that expire `T` after the server last heard from
//!    them) with several clients that hold, release, get partitioned, lose replies
//!    and see their sessions expire: no two machines ever consider themselves
//!    holders at the same time (state held, validity left), tokens strictly
//!    increase from holder to holder, an `acquired` node is the lowest on the
//!    server, and once every machine has finished no node is left behind.

use std::collections::{BTreeMap, VecDeque};

use fencelock_core::backoff::{RetryPolicy, SplitMix64};
use fencelock_core::zookeeper::{
    contender_sequence, Command, ErrorKind, Event, Input, Lock, LockArgs, Output, Reply, SessionId,
    Stat, WatchEventKind, ZooKeeperConfig,
};
use fencelock_core::{Machine, Millis, RequestId};
use proptest::prelude::*;

const GUID: &str = "e3a1c2f0-2b7d-4c55-9a1e-0f6b8d2c4e17";
const SESSION: u64 = 72_057_831_385_464_832;
const P: &str = "/locks/p";

fn ours(n: u64) -> String {
    format!("{GUID}-lock-{n:010}")
}

// ------------------------------------------------------- 1. random inputs

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..4).prop_map(ours),
        (0u64..4).prop_map(|n| format!("other-lock-{n:010}")),
        Just("readme".to_string()),
    ]
}

fn arb_stat() -> impl Strategy<Value = Stat> {
    (
        prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)],
        prop_oneof![Just(SESSION), Just(0u64), Just(7u64)],
    )
        .prop_map(|(czxid, owner)| Stat::new(czxid, owner))
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        (
            prop_oneof![
                arb_name().prop_map(|n| format!("{P}/{n}")),
                ".{0,6}".prop_map(String::from)
            ],
            prop::option::of(arb_stat())
        )
            .prop_map(|(path, stat)| Reply::Created { path, stat }),
        Just(Reply::Ok),
        prop::collection::vec(arb_name(), 0..4).prop_map(|children| Reply::Children { children }),
        arb_stat().prop_map(|stat| Reply::Stat { stat }),
        prop_oneof![
            Just(ErrorKind::NoNode),
            Just(ErrorKind::NodeExists),
            Just(ErrorKind::Connection),
            Just(ErrorKind::SessionExpired),
            Just(ErrorKind::Timeout),
            Just(ErrorKind::Server),
            Just(ErrorKind::Protocol),
        ]
        .prop_map(|kind| Reply::error(kind, "x")),
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
    Watch {
        pick: usize,
        dt: u64,
    },
    Timeout {
        dt: u64,
    },
    Release {
        dt: u64,
    },
    Disconnected {
        dt: u64,
    },
    Connected {
        dt: u64,
        other: bool,
    },
    Expired {
        dt: u64,
    },
    Backwards,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (any::<usize>(), prop::bool::weighted(0.05), 0u64..3_000, arb_reply())
            .prop_map(|(pick, bogus, dt, reply)| Step::Reply { pick, bogus, dt, reply }),
        2 => (any::<usize>(), 0u64..3_000).prop_map(|(pick, dt)| Step::Watch { pick, dt }),
        3 => (0u64..6_000).prop_map(|dt| Step::Timeout { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::Release { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::Disconnected { dt }),
        1 => (0u64..3_000, prop::bool::weighted(0.2))
            .prop_map(|(dt, other)| Step::Connected { dt, other }),
        1 => (0u64..3_000).prop_map(|dt| Step::Expired { dt }),
        1 => Just(Step::Backwards),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lock_never_panics_and_keeps_its_promises(
        try_lock in any::<bool>(), steps in prop::collection::vec(arb_step(), 0..50)
    ) {
        let mut config = ZooKeeperConfig::new();
        config.request_timeout = Some(500);
        config.recheck = Some(4_000);
        let mut args = LockArgs::new(Millis(1_000), P, GUID, SessionId(SESSION), 10_000)
            .with_timeout(30_000);
        args.try_lock = try_lock;
        let mut machine = Lock::new(&config, args).unwrap();
        let mut now = 1_000u64;
        let mut issued: Vec<(RequestId, bool)> = Vec::new();
        let (mut acquired, mut terminal, mut lost) = (0, 0, false);
        let mut collect = |machine: &mut Lock, issued: &mut Vec<(RequestId, bool)>| {
            while let Some(output) = machine.poll_output() {
                match output {
                    Output::Command(command) => {
                        issued.push((command.req(), matches!(command, Command::GetData { .. })));
                    }
                    Output::Event(event) => match event {
                        Event::Acquired { lock, .. } => {
                            assert!(!lost, "acquired after lost");
                            assert!(lock.valid_until > lock.acquired_at, "no validity left");
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
            let pick = |p: usize, watches: bool| {
                let list: Vec<RequestId> = issued.iter().filter(|(_, w)| !watches || *w).map(|(r, _)| *r).collect();
                if list.is_empty() { RequestId(999) } else { list[p % list.len()] }
            };
            let input = match step {
                Step::Reply { pick: p, bogus, dt, reply } => {
                    now += dt;
                    let req = if bogus { RequestId(10_000) } else { pick(p, false) };
                    Input::Reply { now: Millis(now), req, result: reply }
                }
                Step::Watch { pick: p, dt } => {
                    now += dt;
                    Input::Watch { now: Millis(now), req: pick(p, true), event: WatchEventKind::Deleted }
                }
                Step::Timeout { dt } => { now += dt; Input::Timeout { now: Millis(now) } }
                Step::Release { dt } => { now += dt; Input::Release { now: Millis(now) } }
                Step::Disconnected { dt } => { now += dt; Input::Disconnected { now: Millis(now) } }
                Step::Connected { dt, other } => {
                    now += dt;
                    let session = SessionId(if other { 5 } else { SESSION });
                    Input::Connected { now: Millis(now), session }
                }
                Step::Expired { dt } => { now += dt; Input::SessionExpired { now: Millis(now) } }
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

// ------------------------------------------------- 2. a simulated ZooKeeper

const T: u64 = 6_000;

struct ZNode {
    czxid: u64,
    owner: u64,
}

#[derive(Default)]
struct Server {
    parent: bool,
    nodes: BTreeMap<String, ZNode>,
    cversion: u64,
    zxid: u64,
    /// Armed watches: node name, client, the client's machine, get_data request.
    watches: Vec<(String, usize, u64, RequestId)>,
    /// Per session: when the server last heard from it, and whether it lives.
    sessions: BTreeMap<u64, (u64, bool)>,
}

impl Server {
    fn touch(&mut self, session: u64, now: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            if s.1 {
                s.0 = now;
            }
        }
    }

    fn alive(&self, session: u64) -> bool {
        self.sessions.get(&session).is_some_and(|s| s.1)
    }

    /// Deletes a node; returns the watches it fires.
    fn delete(&mut self, name: &str) -> Vec<(usize, u64, RequestId)> {
        self.nodes.remove(name);
        self.zxid += 1;
        let (fired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.watches)
            .into_iter()
            .partition(|(n, _, _, _)| n == name);
        self.watches = kept;
        fired.into_iter().map(|(_, c, m, r)| (c, m, r)).collect()
    }

    /// Expires every session not heard from for `T`; returns the fired watches.
    fn expire(&mut self, now: u64) -> Vec<(usize, u64, RequestId)> {
        let mut fired = Vec::new();
        let dead: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, (heard, alive))| *alive && now >= heard + T)
            .map(|(s, _)| *s)
            .collect();
        for session in dead {
            self.sessions.get_mut(&session).unwrap().1 = false;
            let names: Vec<String> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.owner == session)
                .map(|(name, _)| name.clone())
                .collect();
            for name in names {
                fired.extend(self.delete(&name));
            }
        }
        fired
    }

    /// Applies one command of `session`; the reply, and watches it fires.
    fn apply(
        &mut self,
        (client, machine): (usize, u64),
        session: u64,
        command: &Command,
        with_stat: bool,
    ) -> (Reply, Vec<(usize, u64, RequestId)>) {
        if !self.alive(session) {
            return (
                Reply::error(ErrorKind::SessionExpired, "expired"),
                Vec::new(),
            );
        }
        let name_of = |path: &str| path.rsplit('/').next().unwrap_or_default().to_string();
        match command {
            Command::Create { path, .. } => {
                if !self.parent {
                    return (Reply::error(ErrorKind::NoNode, "no parent"), Vec::new());
                }
                let name = format!("{}{:010}", name_of(path), self.cversion);
                self.cversion += 1;
                self.zxid += 1;
                let stat = Stat::new(self.zxid, session);
                self.nodes.insert(
                    name.clone(),
                    ZNode {
                        czxid: self.zxid,
                        owner: session,
                    },
                );
                let path = format!("{P}/{name}");
                (
                    Reply::Created {
                        path,
                        stat: with_stat.then_some(stat),
                    },
                    Vec::new(),
                )
            }
            Command::EnsurePath { .. } => {
                self.parent = true;
                (Reply::Ok, Vec::new())
            }
            Command::GetChildren { .. } => {
                if !self.parent {
                    return (Reply::error(ErrorKind::NoNode, "no parent"), Vec::new());
                }
                (
                    Reply::Children {
                        children: self.nodes.keys().rev().cloned().collect(),
                    },
                    Vec::new(),
                )
            }
            Command::GetData { req, path, .. } | Command::Exists { req, path, .. } => {
                let name = name_of(path);
                match self.nodes.get(&name) {
                    Some(node) => {
                        let stat = Stat::new(node.czxid, node.owner);
                        if matches!(command, Command::GetData { .. }) {
                            self.watches.push((name, client, machine, *req));
                        }
                        (Reply::Stat { stat }, Vec::new())
                    }
                    None => (Reply::error(ErrorKind::NoNode, "no node"), Vec::new()),
                }
            }
            Command::Delete { path, .. } => {
                let name = name_of(path);
                if self.nodes.contains_key(&name) {
                    let fired = self.delete(&name);
                    (Reply::Ok, fired)
                } else {
                    (Reply::error(ErrorKind::NoNode, "no node"), Vec::new())
                }
            }
            _ => (
                Reply::error(ErrorKind::Server, "unknown command"),
                Vec::new(),
            ),
        }
    }
}

struct Client {
    guid: String,
    session: u64,
    generation: u64,
    machine: Option<Lock>,
    /// Counts the client's machines: replies and watches go to the machine that asked.
    mid: u64,
    /// Inputs due at a time, for a machine, FIFO.
    inbox: VecDeque<(u64, u64, Input)>,
    partitioned_until: Option<u64>,
    /// A real client notices a partition only when its pings go unanswered.
    notice_at: u64,
    told_disconnected: bool,
    hold_until: Option<u64>,
    with_stat: bool,
}

#[allow(clippy::needless_range_loop)] // clients index each other
fn run_simulation(seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let mut roll = |n: u64| rng.next_u64() % n;
    let clients_n = 2 + roll(3) as usize;
    let mut server = Server {
        parent: roll(4) != 0,
        ..Server::default()
    };
    let mut config = ZooKeeperConfig::new();
    config.request_timeout = Some(400);
    config.recheck = Some(2_000);
    config.retry = RetryPolicy::fixed(50, 20).with_max_attempts(None);
    config.rng_seed = seed;
    let mut clients: Vec<Client> = (0..clients_n)
        .map(|i| Client {
            guid: format!("g{i}x0"),
            session: ((i as u64 + 1) << 56) | 1,
            generation: 0,
            machine: None,
            mid: 0,
            inbox: VecDeque::new(),
            partitioned_until: None,
            notice_at: 0,
            told_disconnected: false,
            hold_until: None,
            with_stat: roll(2) == 0,
        })
        .collect();
    for c in &clients {
        server.sessions.insert(c.session, (0, true));
    }
    let mut now = 1_000u64;
    let mut last_token = 0u64;
    let mut acquisitions = 0u32;
    let end_faults = 60_000u64;
    let end = 120_000u64;
    while now < end {
        now += 1 + roll(40);
        let faults = now < end_faults;
        // Clients that are not partitioned keep their session alive (pings).
        for c in &clients {
            if c.partitioned_until.is_none() {
                server.touch(c.session, now);
            }
        }
        for (client, mid, req) in server.expire(now) {
            let at = now + 1 + roll(10);
            clients[client].inbox.push_back((
                at,
                mid,
                Input::Watch {
                    now: Millis(at),
                    req,
                    event: WatchEventKind::Deleted,
                },
            ));
        }
        for i in 0..clients.len() {
            // Partitions start and end.
            if faults && clients[i].partitioned_until.is_none() && roll(400) == 0 {
                clients[i].partitioned_until = Some(now + roll(2 * T));
                clients[i].notice_at = now + roll(T + T / 2);
                clients[i].told_disconnected = false;
            }
            if let Some(until) = clients[i].partitioned_until {
                if !clients[i].told_disconnected && now >= clients[i].notice_at {
                    clients[i].told_disconnected = true;
                    let at = now;
                    let mid = clients[i].mid;
                    clients[i]
                        .inbox
                        .push_back((at, mid, Input::Disconnected { now: Millis(at) }));
                }
                if now >= until || !faults {
                    clients[i].partitioned_until = None;
                    let session = clients[i].session;
                    let input = if server.alive(session) {
                        Input::Connected {
                            now: Millis(now),
                            session: SessionId(session),
                        }
                    } else {
                        Input::SessionExpired { now: Millis(now) }
                    };
                    if clients[i].told_disconnected || !server.alive(session) {
                        let mid = clients[i].mid;
                        clients[i].inbox.push_back((now, mid, input));
                    }
                }
            }
            // A new session after expiry, a new machine when idle.
            let c = &mut clients[i];
            let idle = c.machine.as_ref().is_none_or(|m| m.state().is_terminal());
            if idle && c.inbox.is_empty() && c.partitioned_until.is_none() && now < end - 20_000 {
                if !server.alive(c.session) {
                    c.generation += 1;
                    c.session = ((i as u64 + 1) << 56) | (c.generation + 1);
                    server.sessions.insert(c.session, (now, true));
                }
                c.guid = format!("g{i}x{}", rng_guid(now, i));
                let args = LockArgs::new(Millis(now), P, c.guid.clone(), SessionId(c.session), T)
                    .with_timeout(20_000);
                c.machine = Some(Lock::new(&config, args).unwrap());
                c.mid += 1;
                c.hold_until = None;
            }
            // Deliver what is due, then the timer, then the holder's release.
            let mut inputs = Vec::new();
            while clients[i]
                .inbox
                .front()
                .is_some_and(|(at, _, _)| *at <= now)
            {
                let (_, mid, input) = clients[i].inbox.pop_front().unwrap();
                // Replies and watches of an earlier machine are not this one's.
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
            if machine.state().name() == "held" && hold_over {
                inputs.push(Input::Release { now: Millis(now) });
            }
            // Some acquisitions are cancelled, at any moment.
            if matches!(machine.state().name(), "acquiring" | "waiting") && roll(300) == 0 {
                inputs.push(Input::Release { now: Millis(now) });
            }
            for input in inputs {
                let input = retime(input, now);
                let machine = clients[i].machine.as_mut().unwrap();
                if machine.state().is_terminal()
                    && !matches!(input, Input::Reply { .. } | Input::Watch { .. })
                {
                    continue;
                }
                if let Err(e) = machine.handle_input(input.clone()) {
                    // A release racing the machine's own end is the only allowed misuse.
                    assert!(
                        matches!(input, Input::Release { .. }),
                        "seed {seed}: {e} for {input:?}"
                    );
                    continue;
                }
                // Outputs: commands to the server, events checked.
                let machine = clients[i].machine.as_mut().unwrap();
                let outputs: Vec<Output> = std::iter::from_fn(|| machine.poll_output()).collect();
                for output in outputs {
                    match output {
                        Output::Command(command) => {
                            let c = &clients[i];
                            let (partitioned, session, with_stat) =
                                (c.partitioned_until.is_some(), c.session, c.with_stat);
                            let last = c.inbox.back().map_or(0, |(at, _, _)| *at);
                            let mid = c.mid;
                            let delay = 1 + roll(15);
                            let at = (now + delay).max(last);
                            let reply = if partitioned {
                                Reply::error(ErrorKind::Connection, "partitioned")
                            } else {
                                let lose_reply = faults && roll(30) == 0;
                                let (reply, fired) =
                                    server.apply((i, mid), session, &command, with_stat);
                                for (client, m, req) in fired {
                                    let w = now + 1 + roll(10);
                                    clients[client].inbox.push_back((
                                        w,
                                        m,
                                        Input::Watch {
                                            now: Millis(w),
                                            req,
                                            event: WatchEventKind::Deleted,
                                        },
                                    ));
                                }
                                if lose_reply {
                                    Reply::error(ErrorKind::Connection, "reply lost")
                                } else {
                                    reply
                                }
                            };
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
                            let name = lock.path.rsplit('/').next().unwrap().to_string();
                            let lowest = server
                                .nodes
                                .keys()
                                .filter(|n| contender_sequence(n).is_some())
                                .min_by_key(|n| contender_sequence(n))
                                .cloned();
                            assert_eq!(
                                lowest.as_deref(),
                                Some(name.as_str()),
                                "seed {seed}: acquired but not the lowest"
                            );
                            assert!(
                                lock.token.0 > last_token,
                                "seed {seed}: token {} after {}",
                                lock.token.0,
                                last_token
                            );
                            last_token = lock.token.0;
                            acquisitions += 1;
                            let hold = if roll(3) == 0 {
                                roll(2 * T)
                            } else {
                                roll(1_000)
                            };
                            clients[i].hold_until = Some((now + hold).min(end - 5_000));
                        }
                        Output::Event(_) => {}
                        _ => {}
                    }
                }
            }
            if clients[i]
                .machine
                .as_ref()
                .is_some_and(|m| m.state().name() == "lost")
            {
                let machine = clients[i].machine.as_mut().unwrap();
                machine
                    .handle_input(Input::Release { now: Millis(now) })
                    .unwrap();
                // Its outputs (a delete, maybe) are picked up on the next round by
                // re-polling: collect them now.
                let outputs: Vec<Output> = std::iter::from_fn(|| machine.poll_output()).collect();
                for output in outputs {
                    if let Output::Command(command) = output {
                        let c = &clients[i];
                        let at = (now + 1).max(c.inbox.back().map_or(0, |(at, _, _)| *at));
                        let (mid, session, with_stat) = (c.mid, c.session, c.with_stat);
                        let reply = if c.partitioned_until.is_some() {
                            Reply::error(ErrorKind::Connection, "partitioned")
                        } else {
                            let (reply, fired) =
                                server.apply((i, mid), session, &command, with_stat);
                            for (client, m, req) in fired {
                                let w = now + 1;
                                clients[client].inbox.push_back((
                                    w,
                                    m,
                                    Input::Watch {
                                        now: Millis(w),
                                        req,
                                        event: WatchEventKind::Deleted,
                                    },
                                ));
                            }
                            reply
                        };
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
                }
            }
        }
        // Mutual exclusion among machines that consider themselves holders.
        let holders: Vec<usize> = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.machine
                    .as_ref()
                    .is_some_and(|m| m.state().name() == "held" && m.remaining(Millis(now)) > 0)
            })
            .map(|(i, _)| i)
            .collect();
        assert!(
            holders.len() <= 1,
            "seed {seed}: two holders at {now}: {holders:?}"
        );
    }
    for (i, c) in clients.iter().enumerate() {
        let state = c.machine.as_ref().map_or("none", |m| m.state().name());
        assert!(
            matches!(state, "released" | "failed" | "none"),
            "seed {seed}: client {i} ends {state}"
        );
    }
    assert!(
        server.nodes.is_empty(),
        "seed {seed}: nodes left behind: {:?}",
        server.nodes.keys().collect::<Vec<_>>()
    );
    assert!(acquisitions > 0, "seed {seed}: nobody ever held the lock");
}

fn rng_guid(now: u64, i: usize) -> u64 {
    SplitMix64::new(now ^ (i as u64)).next_u64() % 1_000_000
}

/// The host delivers an input no earlier than the current time.
fn retime(input: Input, now: u64) -> Input {
    let now = Millis(now);
    match input {
        Input::Reply { req, result, .. } => Input::Reply { now, req, result },
        Input::Watch { req, event, .. } => Input::Watch { now, req, event },
        Input::Disconnected { .. } => Input::Disconnected { now },
        Input::Connected { session, .. } => Input::Connected { now, session },
        Input::SessionExpired { .. } => Input::SessionExpired { now },
        Input::Timeout { .. } => Input::Timeout { now },
        Input::Release { .. } => Input::Release { now },
        other => other,
    }
}

#[test]
fn simulated_clients_exclude_each_other_with_increasing_tokens() {
    for seed in 0..150 {
        run_simulation(seed);
    }
}
