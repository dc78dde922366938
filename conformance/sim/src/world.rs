//! The discrete-event loop: clients driving real core machines, simulated
//! servers, a network, per-process clocks, pauses, restarts, the fenced resource
//! and the checkers.
//!
//! Servers answer a request when it arrives, or later: a server may keep timers
//! of its own (an etcd lease expiring by the leader's clock), which the loop
//! runs at the real time the server's clock reaches them, and it may send
//! answers on its own (a watch that fires when another client's write lands),
//! which travel back over the same network as any reply.
//!
//! Global time is real time in microseconds. Events sit in one priority queue
//! ordered by `(time, sequence)`, so equal times run in the order they were
//! scheduled and a seed replays the same trace. Every event for a paused client
//! is deferred to the end of its pause (its clock keeps running).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use fencelock_core::{Machine, Millis};

use crate::clock::Clock;
use crate::kind::{
    Caller, LockEvent, LockKind, ServerFault, ServerModel, Start, Step, Unreachable,
};
use crate::profile::{ClientBug, Drift, Plan, Profile, Restarts, Skew};
use crate::resource::{Resource, WriteOutcome};
use crate::rng::Rng;

/// Node clocks start near this wall-clock time (µs since 1970), so a
/// time-seeded counter looks like a real one.
pub const EPOCH_US: u64 = 1_700_000_000_000_000;

/// Most events one run may process before it is declared stuck.
pub const MAX_EVENTS: u64 = 5_000_000;

/// Most cycles one client may start in a run.
pub const MAX_CYCLES: u32 = 100_000;

/// No stop recorded yet.
const OPEN: u64 = u64::MAX;

/// One event.
#[derive(Debug)]
enum Ev<K: LockKind> {
    Start {
        c: u16,
    },
    Arrive {
        c: u16,
        gen: u32,
        node: u16,
        req: u64,
        request: K::Request,
    },
    Reply {
        c: u16,
        gen: u32,
        node: u16,
        req: u64,
        reply: K::Reply,
    },
    Timer {
        c: u16,
        gen: u32,
        armed: u64,
    },
    Release {
        c: u16,
        gen: u32,
    },
    WriteCheck {
        c: u16,
        gen: u32,
    },
    WriteLand {
        c: u16,
        hold: u32,
    },
    Pause {
        c: u16,
        dur: u64,
    },
    ClientJump {
        c: u16,
        delta: i64,
    },
    NodeJump {
        node: u16,
        delta: i64,
    },
    NodeDown {
        node: u16,
    },
    NodeUp {
        node: u16,
        epoch: u32,
    },
    Partition {
        nodes: u64,
        clients: u64,
        dur: u64,
    },
    Heal,
    ServerWake {
        node: u16,
        token: u64,
    },
    ServerFault {
        node: u16,
        fault: ServerFault,
    },
}

/// The event queue: `(time, sequence, slot)` in a heap, payloads in a slab, so
/// the heap moves 24-byte entries rather than events.
struct Queue<K: LockKind> {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Option<Ev<K>>>,
    free: Vec<u32>,
    seq: u64,
}

impl<K: LockKind> Queue<K> {
    fn new() -> Self {
        Queue {
            heap: BinaryHeap::with_capacity(256),
            slots: Vec::with_capacity(256),
            free: Vec::with_capacity(256),
            seq: 0,
        }
    }

    fn push(&mut self, at: u64, ev: Ev<K>) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(ev);
                slot
            }
            None => {
                self.slots.push(Some(ev));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, self.seq, slot)));
    }

    fn pop(&mut self) -> Option<(u64, Ev<K>)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        self.free.push(slot);
        let ev = self.slots[slot as usize].take().expect("queued event");
        Some((at, ev))
    }
}

struct Client<K: LockKind> {
    clock: Clock,
    last_ms: u64,
    paused_until: u64,
    machine: Option<K::Machine>,
    gen: u32,
    armed: Option<u64>,
    timer_token: u64,
    hold: Option<u32>,
    req_fifo: Vec<u64>,
    reply_fifo: Vec<u64>,
    res_mask: u8,
    /// Writes checked but not landed yet: the client releases only after them.
    writes_in_flight: u32,
    /// A pause already hit the writes in flight (pauses never stack on one write).
    paused_in_write: bool,
    /// A release is waiting for the writes in flight.
    release_pending: bool,
    /// Writes checked in the current hold (numbers the hold inputs).
    hold_writes: u32,
}

struct NodeProc<S> {
    server: S,
    clock: Clock,
    up: bool,
    epoch: u32,
    /// Real time of the armed server timer.
    wake_at: Option<u64>,
    /// Identifies the armed server timer (older wake events are stale).
    wake_token: u64,
}

/// One lease that was acquired: when, with which token, until when it was
/// believed, and what it wrote.
#[derive(Clone, Debug)]
pub struct Hold {
    /// Client index.
    pub client: u16,
    /// The client's cycle (machine) number, from 1.
    pub cycle: u32,
    /// Resources, as a bit mask over the pool.
    pub res_mask: u8,
    /// Fencing token.
    pub token: Option<u64>,
    /// Real time of the `acquired` event, µs.
    pub acquired: u64,
    /// End of validity on the client's clock, ms.
    pub valid_until: u64,
    /// Real time at which the client's clock reaches `valid_until`, µs.
    pub valid_real: u64,
    /// Real time at which the client stopped (release, loss), µs.
    pub stop: u64,
    /// Real time of the last write attempt, µs (0: none).
    pub last_write: u64,
    /// Resources this lease has had writes accepted on.
    pub wrote: u8,
}

impl Hold {
    /// When the client stopped believing it held the lock on its own: release,
    /// loss, or its clock reaching `valid_until`, whichever came first.
    #[must_use]
    pub fn natural_end(&self) -> u64 {
        self.stop.min(self.valid_real)
    }

    /// When the client last acted as a holder: its natural end, or a later write
    /// (a write delayed by a pause after the validity check).
    #[must_use]
    pub fn belief_end(&self, run_end: u64) -> u64 {
        self.natural_end().min(run_end).max(self.last_write)
    }
}

/// Counters and findings of one run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Profile name.
    pub profile: String,
    /// Seed.
    pub seed: u64,
    /// Machines run to a terminal state (lock cycles).
    pub cycles: u64,
    /// Leases acquired.
    pub acquired: u64,
    /// Events processed.
    pub events: u64,
    /// Writes accepted by the resource.
    pub writes_accepted: u64,
    /// Writes refused as stale.
    pub writes_rejected: u64,
    /// Fence write-back commands sent.
    pub fence_commands: u64,
    /// (a) tokens issued to two leases of one resource.
    pub duplicate_tokens: u64,
    /// (a) an owner's write accepted after another owner's, having written before.
    pub interleaved: u64,
    /// (b) pairs of leases that believed they held one resource at the same time.
    pub overlaps: u64,
    /// (c) no acquisition within the bound after healing.
    pub liveness_failed: bool,
    /// Time from healing to the first acquisition, µs.
    pub liveness: Option<u64>,
    /// Leases acquired after another lease ended, with a token not above it.
    pub regressions: u64,
    /// Writes accepted from a holder whose hold had ended before the newest
    /// accepted writer acquired.
    pub stale_accepted: u64,
    /// Inputs the machine refused (other than duplicate replies).
    pub contract: u64,
    /// Commands the clients sent (`cancel_watch` included).
    pub requests: u64,
    /// Watch answers that carried no delete (see [`LockKind::is_idle_wakeup`]).
    pub idle_wakeups: u64,
    /// The run did not finish within [`MAX_EVENTS`].
    pub stuck: bool,
    /// Human-readable notes on the first findings (client and cycle to turn
    /// into a vector).
    pub findings: Vec<String>,
    /// `(client, cycle)` of a lease involved in the first finding.
    pub culprit: Option<(u16, u32)>,
}

impl Report {
    /// Whether `check` fired in this run.
    #[must_use]
    pub fn fired(&self, check: crate::profile::Check) -> bool {
        use crate::profile::Check;
        match check {
            Check::Fencing => self.duplicate_tokens + self.interleaved > 0,
            Check::Mutex => self.overlaps > 0,
            Check::Liveness => self.liveness_failed || self.stuck,
            Check::Regression => self.regressions > 0,
            Check::StaleAccepted => self.stale_accepted > 0,
            Check::Contract => self.contract > 0,
        }
    }
}

/// What to record beyond the counters.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep a human-readable trace.
    pub trace: bool,
    /// Record one machine as a conformance vector: `(client, cycle)`.
    pub vector: Option<(u16, u32)>,
}

/// A machine's inputs and outputs, ready to become a conformance vector.
#[derive(Clone, Debug, Default)]
pub struct VectorRecord {
    /// `config` and `init`.
    pub header: Option<(serde_json::Value, serde_json::Value)>,
    /// Outputs, timeout and state right after construction.
    pub init: Option<serde_json::Value>,
    /// Steps: input and expectation.
    pub steps: Vec<serde_json::Value>,
}

/// One simulated world.
pub struct World<K: LockKind> {
    kind: K,
    profile: Profile,
    plan: Plan,
    rng: Rng,
    now: u64,
    queue: Queue<K>,
    clients: Vec<Client<K>>,
    nodes: Vec<NodeProc<K::Server>>,
    cut: Vec<u64>,
    resources: Vec<Resource>,
    /// Every lease acquired, in acquisition order.
    pub holds: Vec<Hold>,
    per_resource: Vec<Vec<u32>>,
    healed: bool,
    report: Report,
    outputs: Vec<<K::Machine as Machine>::Output>,
    pushed: Vec<(Caller, K::Reply)>,
    trace: Option<Vec<String>>,
    record_target: Option<(u16, u32)>,
    record: VectorRecord,
}

fn ms(us: u64) -> String {
    format!("{}.{:03}ms", us / 1_000, us % 1_000)
}

impl<K: LockKind> World<K> {
    /// Builds a world for `profile` and `seed`; `make_server` builds each node.
    pub fn new(
        kind: K,
        profile: &Profile,
        plan: Plan,
        mut rng: Rng,
        options: &Options,
        make_server: impl Fn() -> K::Server,
    ) -> Self {
        let rate = |rng: &mut Rng| -> i64 {
            let ppm = i64::from(plan.drift_ppm.max(1));
            match profile.drift {
                Drift::Exact => 0,
                Drift::Within => rng.range_i(-(ppm * 95 / 200), ppm * 95 / 200),
                Drift::Beyond => {
                    let magnitude = rng.range_i(ppm, (20 * ppm).min(400_000));
                    if rng.chance(500) {
                        magnitude
                    } else {
                        -magnitude
                    }
                }
            }
        };
        let clients = (0..plan.clients)
            .map(|_| Client {
                clock: Clock::new(0, rng.range(1_000_000_000, 2_000_000_000), rate(&mut rng)),
                last_ms: 0,
                paused_until: 0,
                machine: None,
                gen: 0,
                armed: None,
                timer_token: 0,
                hold: None,
                req_fifo: vec![0; usize::from(plan.nodes)],
                reply_fifo: vec![0; usize::from(plan.nodes)],
                res_mask: 0,
                writes_in_flight: 0,
                paused_in_write: false,
                release_pending: false,
                hold_writes: 0,
            })
            .collect();
        let skew_max = match profile.skew {
            Skew::WithinTtl => plan.ttl * 1_000 / 4,
            Skew::BeyondTtl => plan.ttl * 10_000,
        };
        let nodes = (0..plan.nodes)
            .map(|_| NodeProc {
                server: make_server(),
                clock: Clock::new(0, EPOCH_US + rng.range(0, skew_max), rate(&mut rng)),
                up: true,
                epoch: 0,
                wake_at: None,
                wake_token: 0,
            })
            .collect();
        let keep_log = options.trace;
        let mut world = World {
            kind,
            profile: profile.clone(),
            rng,
            now: 0,
            queue: Queue::new(),
            clients,
            nodes,
            cut: vec![0; usize::from(plan.clients) * usize::from(plan.nodes)],
            resources: (0..plan.resources)
                .map(|_| Resource::new(keep_log))
                .collect(),
            holds: Vec::new(),
            per_resource: vec![Vec::new(); usize::from(plan.resources)],
            healed: false,
            report: Report::default(),
            outputs: Vec::with_capacity(16),
            pushed: Vec::new(),
            trace: options.trace.then(Vec::new),
            record_target: options.vector,
            record: VectorRecord::default(),
            plan,
        };
        world.schedule_faults();
        world
    }

    /// The plan this world runs.
    #[must_use]
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    fn push(&mut self, at: u64, ev: Ev<K>) {
        self.queue.push(at, ev);
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            let now = self.now;
            trace.push(format!("{:>13} {}", ms(now), line()));
        }
    }

    fn schedule_faults(&mut self) {
        let plan = self.plan.clone();
        let heal = plan.heal_at;
        for c in 0..plan.clients {
            let at = self.rng.range(0, 50_000);
            self.push(at, Ev::Start { c });
            for _ in 0..plan.pauses {
                let at = self.rng.range(0, heal);
                let dur = self.rng.range(1_000, plan.pause_max.max(1_000));
                self.push(at, Ev::Pause { c, dur });
            }
            for _ in 0..self.rng.range(0, u64::from(plan.jumps)) {
                let at = self.rng.range(0, heal);
                let size = self.rng.range(plan.ttl * 100, plan.ttl * 2_000) as i64;
                let delta = if self.rng.chance(500) { size } else { -size };
                self.push(at, Ev::ClientJump { c, delta });
            }
        }
        for node in 0..plan.nodes {
            for _ in 0..self.rng.range(0, u64::from(plan.restarts)) {
                let at = self.rng.range(0, heal);
                self.push(at, Ev::NodeDown { node });
            }
            for _ in 0..self.rng.range(0, u64::from(plan.jumps)) {
                let at = self.rng.range(0, heal);
                let size = self.rng.range(plan.ttl * 100, plan.ttl * 2_000) as i64;
                let delta = if self.rng.chance(500) { size } else { -size };
                self.push(at, Ev::NodeJump { node, delta });
            }
            for _ in 0..plan.leaps {
                let at = self.rng.range(0, heal);
                let delta = self.rng.range(plan.ttl * 50, plan.ttl * 1_000) as i64;
                self.push(at, Ev::NodeJump { node, delta });
            }
        }
        if let Some(etcd) = &plan.etcd {
            for &(at, fault) in &etcd.faults {
                self.push(at, Ev::ServerFault { node: 0, fault });
            }
        }
        for _ in 0..plan.partitions {
            let at = self.rng.range(0, heal);
            let nodes = self.rng.range(1, (1u64 << plan.nodes) - 1);
            let clients = self.rng.range(1, (1u64 << plan.clients) - 1);
            let dur = self.rng.range(plan.node_timeout * 1_000, plan.ttl * 2_000);
            self.push(
                at,
                Ev::Partition {
                    nodes,
                    clients,
                    dur,
                },
            );
        }
        self.push(heal, Ev::Heal);
    }

    // ----- clocks -------------------------------------------------------------

    fn client_now(&mut self, c: u16) -> Millis {
        let client = &mut self.clients[usize::from(c)];
        let ms = (client.clock.local(self.now) / 1_000).max(client.last_ms);
        client.last_ms = ms;
        Millis(ms)
    }

    /// Real time at which client `c`'s clock reaches `ms`.
    fn client_real(&self, c: u16, ms: u64) -> u64 {
        let client = &self.clients[usize::from(c)];
        if client.last_ms >= ms {
            self.now
        } else {
            client.clock.global_at(ms * 1_000, self.now)
        }
    }

    // ----- network ------------------------------------------------------------

    fn is_cut(&self, c: u16, node: u16) -> bool {
        self.cut[usize::from(c) * usize::from(self.plan.nodes) + usize::from(node)] > self.now
    }

    fn latency(&mut self) -> u64 {
        let mut d = self.plan.latency + self.rng.below(self.plan.jitter + 1);
        if !self.healed && self.rng.chance(self.plan.tail) {
            d += self.rng.range(0, self.plan.tail_max);
        }
        if !self.healed && self.rng.chance(self.plan.reorder) {
            d += self.rng.range(0, self.plan.latency * 20 + 1_000);
        }
        d
    }

    /// Arrival time on a link that keeps FIFO order (a TCP connection), unless
    /// the profile breaks it.
    fn arrival(&mut self, c: u16, node: u16, request: bool) -> u64 {
        let at = self.now + self.latency();
        let unordered = self.profile.unordered && !self.healed;
        let client = &mut self.clients[usize::from(c)];
        let last = if request {
            &mut client.req_fifo[usize::from(node)]
        } else {
            &mut client.reply_fifo[usize::from(node)]
        };
        if unordered {
            return at;
        }
        let at = at.max(*last);
        *last = at;
        at
    }

    fn lost(&mut self) -> bool {
        !self.healed && self.rng.chance(self.plan.loss)
    }

    fn send_request(&mut self, c: u16, gen: u32, node: u16, req: u64, request: K::Request) {
        if self.is_cut(c, node) || self.lost() {
            self.note(|| format!("c{c} -> n{node} #{req} lost"));
            return;
        }
        let at = self.arrival(c, node, true);
        let dup = !self.healed && self.rng.chance(self.plan.dup);
        if dup {
            let again = self.arrival(c, node, true);
            self.push(
                again,
                Ev::Arrive {
                    c,
                    gen,
                    node,
                    req,
                    request: request.clone(),
                },
            );
        }
        self.push(
            at,
            Ev::Arrive {
                c,
                gen,
                node,
                req,
                request,
            },
        );
    }

    fn send_reply(&mut self, c: u16, gen: u32, node: u16, req: u64, reply: K::Reply) {
        if self.is_cut(c, node) || self.lost() {
            self.note(|| format!("n{node} -> c{c} #{req} reply lost"));
            return;
        }
        let at = self.arrival(c, node, false);
        self.push(
            at,
            Ev::Reply {
                c,
                gen,
                node,
                req,
                reply,
            },
        );
    }

    // ----- clients ------------------------------------------------------------

    fn paused(&self, c: u16) -> Option<u64> {
        let until = self.clients[usize::from(c)].paused_until;
        (until > self.now).then_some(until)
    }

    fn start_cycle(&mut self, c: u16) {
        if self.now >= self.plan.end || self.clients[usize::from(c)].gen >= MAX_CYCLES {
            return;
        }
        let now = self.client_now(c);
        let pool = self.plan.resources;
        let mask: u8 = if pool > 1 && self.rng.chance(self.plan.multi_per_mille) {
            (1u8 << pool) - 1
        } else {
            1u8 << self.rng.below(u64::from(pool))
        };
        let client = &mut self.clients[usize::from(c)];
        client.gen += 1;
        client.res_mask = mask;
        client.hold = None;
        client.armed = None;
        client.release_pending = false;
        client.hold_writes = 0;
        let gen = client.gen;
        let resources = (0..pool)
            .filter(|r| mask & (1 << r) != 0)
            .map(|r| format!("r{r}"))
            .collect();
        let rng_seed = self.rng.next_u64();
        let start = Start {
            try_lock: self.rng.chance(self.plan.try_lock_per_mille),
            now,
            resources,
            value: format!("c{c}-{gen}"),
            timeout: self.plan.acquire_timeout,
            rng_seed,
        };
        self.note(|| {
            format!(
                "c{c} cycle {gen}: acquire {:?} at local {now}",
                start.resources
            )
        });
        let mut machine = self.kind.start(&start);
        if self.record_target == Some((c, gen)) {
            self.record.header = Some(self.kind.vector_header(&start));
        }
        self.drain(&mut machine);
        let recording = self.record_target == Some((c, gen));
        if recording {
            self.record.init = Some(self.expectation(&machine));
        }
        self.clients[usize::from(c)].machine = Some(machine);
        self.after_outputs(c);
    }

    fn drain(&mut self, machine: &mut K::Machine) {
        self.outputs.clear();
        let mut guard = 0;
        while let Some(output) = machine.poll_output() {
            self.outputs.push(output);
            guard += 1;
            assert!(guard < 100_000, "machine never stops emitting");
        }
    }

    fn expectation(&self, machine: &K::Machine) -> serde_json::Value {
        let outputs: Vec<_> = self
            .outputs
            .iter()
            .map(|o| self.kind.output_json(o))
            .collect();
        let mut expect = serde_json::json!({
            "outputs": outputs,
            "timeout": machine.poll_timeout().map(|t| t.0),
            "state": self.kind.state_name(machine),
        });
        for (name, value) in self.kind.views(machine) {
            expect[name] = value;
        }
        expect
    }

    /// Feeds one input to client `c`'s machine, then acts on its outputs.
    fn feed(&mut self, c: u16, input: <K::Machine as Machine>::Input) {
        let Some(mut machine) = self.clients[usize::from(c)].machine.take() else {
            return;
        };
        let gen = self.clients[usize::from(c)].gen;
        let recording = self.record_target == Some((c, gen));
        let input_json = recording.then(|| self.kind.input_json(&input));
        let result = machine.handle_input(input);
        let error = match result {
            Ok(()) => None,
            Err(error) => {
                if !self.kind.is_duplicate(&error) {
                    self.report.contract += 1;
                    let line = format!("c{c} cycle {gen}: machine refused an input: {error}");
                    self.finding(line, (c, gen));
                }
                Some(error.code())
            }
        };
        self.drain(&mut machine);
        if let Some(input) = input_json {
            let mut expect = self.expectation(&machine);
            if let Some(code) = error {
                expect["error"] = serde_json::json!(code);
            }
            self.record
                .steps
                .push(serde_json::json!({ "input": input, "expect": expect }));
        }
        self.clients[usize::from(c)].machine = Some(machine);
        self.after_outputs(c);
    }

    fn after_outputs(&mut self, c: u16) {
        let gen = self.clients[usize::from(c)].gen;
        let outputs = std::mem::take(&mut self.outputs);
        let mut done = false;
        for output in &outputs {
            match self.kind.step(output) {
                Step::Send { node, req, request } => {
                    if self.kind.is_write_back(&request) {
                        self.report.fence_commands += 1;
                    }
                    self.report.requests += 1;
                    self.note(|| format!("c{c} -> n{node} #{req} {request:?}"));
                    self.send_request(c, gen, node, req, request);
                }
                Step::Event(event) => {
                    if self.trace.is_some() && event != LockEvent::Other {
                        self.note(|| format!("c{c} cycle {gen}: {event:?}"));
                    }
                    done |= self.on_event(c, gen, event);
                }
            }
        }
        self.outputs = outputs;
        self.outputs.clear();
        let client = &mut self.clients[usize::from(c)];
        if done {
            client.machine = None;
            client.hold = None;
            client.armed = None;
            self.report.cycles += 1;
            let think = self.rng.range(0, self.plan.think_max);
            self.push(self.now + think, Ev::Start { c });
            return;
        }
        let deadline = client.machine.as_ref().and_then(|m| m.poll_timeout());
        match deadline {
            Some(Millis(d)) if client.armed != Some(d) => {
                client.armed = Some(d);
                client.timer_token += 1;
                let armed = client.timer_token;
                let at = self.client_real(c, d);
                self.push(at, Ev::Timer { c, gen, armed });
            }
            Some(_) => {}
            None => client.armed = None,
        }
    }

    /// Acts on one event; returns whether the machine is done.
    fn on_event(&mut self, c: u16, gen: u32, event: LockEvent) -> bool {
        match event {
            LockEvent::Acquired { token, valid_until } => {
                self.acquired(c, gen, token, valid_until.0);
                false
            }
            LockEvent::Extended { valid_until } => {
                if let Some(h) = self.clients[usize::from(c)].hold {
                    let real = self.client_real(c, valid_until.0);
                    let hold = &mut self.holds[h as usize];
                    hold.valid_until = valid_until.0;
                    hold.valid_real = real;
                }
                false
            }
            LockEvent::Lost => {
                if self.profile.client_bug != ClientBug::IgnoresValidity {
                    if let Some(h) = self.clients[usize::from(c)].hold {
                        let hold = &mut self.holds[h as usize];
                        hold.stop = hold.stop.min(self.now);
                    }
                    self.push(self.now, Ev::Release { c, gen });
                }
                false
            }
            LockEvent::Released | LockEvent::AcquireFailed => {
                if let Some(h) = self.clients[usize::from(c)].hold {
                    let hold = &mut self.holds[h as usize];
                    hold.stop = hold.stop.min(self.now);
                }
                true
            }
            LockEvent::AttemptFailed | LockEvent::Other => false,
        }
    }

    fn finding(&mut self, line: String, culprit: (u16, u32)) {
        if self.report.culprit.is_none() {
            self.report.culprit = Some(culprit);
        }
        if self.report.findings.len() < 8 {
            self.report.findings.push(line);
        }
    }

    fn acquired(&mut self, c: u16, gen: u32, token: Option<u64>, valid_until: u64) {
        self.report.acquired += 1;
        if self.now >= self.plan.heal_at && self.report.liveness.is_none() {
            self.report.liveness = Some(self.now - self.plan.heal_at);
        }
        let index = self.holds.len() as u32;
        let mask = self.clients[usize::from(c)].res_mask;
        let hold = Hold {
            client: c,
            cycle: gen,
            res_mask: mask,
            token,
            acquired: self.now,
            valid_until,
            valid_real: self.client_real(c, valid_until),
            stop: OPEN,
            last_write: 0,
            wrote: 0,
        };
        // (a) a token never goes to two leases; tokens grow from one hold to a later one.
        if let Some(t) = token {
            for r in 0..self.plan.resources {
                if mask & (1 << r) == 0 {
                    continue;
                }
                let mut duplicate = None;
                let mut regressed = None;
                for &other in &self.per_resource[usize::from(r)] {
                    let o = &self.holds[other as usize];
                    if o.token == Some(t) {
                        duplicate = Some(other);
                    } else if o.natural_end() <= self.now && o.token.is_some_and(|ot| ot > t) {
                        regressed = Some(other);
                    }
                }
                if let Some(other) = duplicate {
                    self.report.duplicate_tokens += 1;
                    let o = &self.holds[other as usize];
                    let line = format!(
                        "(a) token {t} on r{r} issued twice: c{} cycle {} at {} and c{c} cycle {gen} at {}",
                        o.client,
                        o.cycle,
                        ms(o.acquired),
                        ms(self.now)
                    );
                    self.finding(line, (c, gen));
                }
                if let Some(other) = regressed {
                    self.report.regressions += 1;
                    let o = &self.holds[other as usize];
                    let line = format!(
                        "token regress on r{r}: c{c} cycle {gen} got {t} at {}, after c{} cycle {} (token {}) ended at {}",
                        ms(self.now),
                        o.client,
                        o.cycle,
                        o.token.unwrap_or(0),
                        ms(o.natural_end())
                    );
                    self.finding(line, (c, gen));
                }
            }
        }
        for r in 0..self.plan.resources {
            if mask & (1 << r) != 0 {
                self.per_resource[usize::from(r)].push(index);
            }
        }
        self.holds.push(hold);
        self.clients[usize::from(c)].hold = Some(index);
        // The client's plan for this hold: how long, and when it writes.
        let acquired_ms = self.clients[usize::from(c)].last_ms;
        let hold_for = self.rng.range(0, self.plan.hold_max);
        let release_at = self.client_real(c, acquired_ms + hold_for);
        self.push(release_at, Ev::Release { c, gen });
        for _ in 0..self.rng.range(1, self.plan.writes_max) {
            let offset = self.rng.range(0, hold_for);
            let at = self.client_real(c, acquired_ms + offset);
            self.push(at, Ev::WriteCheck { c, gen });
        }
    }

    fn write_check(&mut self, c: u16, gen: u32) {
        let client = &self.clients[usize::from(c)];
        if client.gen != gen {
            return;
        }
        let (Some(h), Some(machine)) = (client.hold, client.machine.as_ref()) else {
            return;
        };
        let holds = self.kind.holds(machine);
        let work = self.rng.range(0, self.plan.work_max);
        let now = self.client_now(c).0;
        let hold = &self.holds[h as usize];
        let ok = match self.profile.client_bug {
            ClientBug::IgnoresValidity => true,
            ClientBug::None => {
                holds && now + work.div_ceil(1_000) + self.plan.margin <= hold.valid_until
            }
        };
        if !ok {
            return;
        }
        let client = &mut self.clients[usize::from(c)];
        client.writes_in_flight += 1;
        let n = client.hold_writes;
        client.hold_writes += 1;
        let input = client
            .machine
            .as_ref()
            .and_then(|m| self.kind.hold_input(m, Millis(now), n));
        if let Some(input) = input {
            self.feed(c, input);
        }
        if !self.healed && self.rng.chance(self.plan.pause_at_write) {
            let dur = self.rng.range(1_000, self.plan.pause_max.max(1_000));
            if self.pause(c, dur) {
                self.note(|| format!("c{c} paused for {} right after its validity check", ms(dur)));
            }
        }
        self.push(self.now + work, Ev::WriteLand { c, hold: h });
    }

    /// Pauses client `c` for `dur` µs, unless it is paused already or a pause
    /// already hit the writes it has in flight. Returns whether it paused.
    fn pause(&mut self, c: u16, dur: u64) -> bool {
        let now = self.now;
        let client = &mut self.clients[usize::from(c)];
        if client.paused_until > now || (client.writes_in_flight > 0 && client.paused_in_write) {
            return false;
        }
        if client.writes_in_flight > 0 {
            client.paused_in_write = true;
        }
        client.paused_until = now + dur;
        true
    }

    fn write_landed(&mut self, c: u16) {
        let client = &mut self.clients[usize::from(c)];
        client.writes_in_flight = client.writes_in_flight.saturating_sub(1);
        if client.writes_in_flight == 0 {
            client.paused_in_write = false;
            if client.release_pending {
                client.release_pending = false;
                let gen = client.gen;
                self.push(self.now, Ev::Release { c, gen });
            }
        }
    }

    fn write_land(&mut self, h: u32) {
        let now = self.now;
        let hold = self.holds[h as usize].clone();
        self.holds[h as usize].last_write = now;
        for r in 0..self.plan.resources {
            if hold.res_mask & (1 << r) == 0 {
                continue;
            }
            let resource = &mut self.resources[usize::from(r)];
            let previous = resource.last_owner();
            let newest = resource.newest_writer_acquired;
            let outcome = resource.write(now, hold.token, h);
            self.note(|| {
                format!(
                    "c{} cycle {} writes r{r} with token {:?}: {outcome:?}",
                    hold.client, hold.cycle, hold.token
                )
            });
            if outcome == WriteOutcome::Rejected {
                self.report.writes_rejected += 1;
                continue;
            }
            self.report.writes_accepted += 1;
            let fenced = hold.token.is_some();
            if fenced && hold.wrote & (1 << r) != 0 && previous.is_some_and(|p| p != h) {
                self.report.interleaved += 1;
                let line = format!(
                    "(a) r{r} accepted c{} cycle {} (token {:?}) again after another owner wrote",
                    hold.client, hold.cycle, hold.token
                );
                self.finding(line, (hold.client, hold.cycle));
            }
            if hold.natural_end() <= newest && previous.is_some_and(|p| p != h) {
                self.report.stale_accepted += 1;
                let line = format!(
                    "stale write accepted on r{r}: c{} cycle {} (token {:?}, hold ended {}) wrote at {} after a holder acquired at {} had written",
                    hold.client,
                    hold.cycle,
                    hold.token,
                    ms(hold.natural_end()),
                    ms(now),
                    ms(newest)
                );
                self.finding(line, (hold.client, hold.cycle));
            }
            let resource = &mut self.resources[usize::from(r)];
            resource.newest_writer_acquired = resource.newest_writer_acquired.max(hold.acquired);
            self.holds[h as usize].wrote |= 1 << r;
        }
    }

    // ----- the loop -----------------------------------------------------------

    /// Runs until nothing is left to do; returns the report.
    pub fn run(mut self) -> (Report, Option<Vec<String>>, VectorRecord) {
        let mut events = 0u64;
        let horizon = self.plan.horizon.unwrap_or(u64::MAX);
        while let Some((at, ev)) = self.queue.pop() {
            if at > horizon {
                self.note(|| String::from("horizon reached: the run stops"));
                break;
            }
            events += 1;
            if events > MAX_EVENTS {
                self.report.stuck = true;
                self.finding(
                    format!("run did not finish within {MAX_EVENTS} events"),
                    (0, 0),
                );
                break;
            }
            self.now = at;
            self.handle(ev);
        }
        self.report.events = events;
        self.finish();
        (self.report, self.trace, self.record)
    }

    fn handle(&mut self, ev: Ev<K>) {
        // Everything addressed to a paused client waits for the end of its pause.
        let client_of = match &ev {
            Ev::Start { c }
            | Ev::Reply { c, .. }
            | Ev::Timer { c, .. }
            | Ev::Release { c, .. }
            | Ev::WriteCheck { c, .. }
            | Ev::WriteLand { c, .. } => Some(*c),
            _ => None,
        };
        if let Some(c) = client_of {
            if let Some(until) = self.paused(c) {
                self.push(until, ev);
                return;
            }
        }
        match ev {
            Ev::Start { c } => self.start_cycle(c),
            Ev::Arrive {
                c,
                gen,
                node,
                req,
                request,
            } => {
                if self.is_cut(c, node) {
                    return;
                }
                let n = &mut self.nodes[usize::from(node)];
                let reply = if n.up {
                    let local = n.clock.local(self.now);
                    n.server.serve(
                        local,
                        Caller {
                            client: c,
                            gen,
                            req,
                        },
                        &request,
                    )
                } else {
                    Some(self.kind.unreachable(Unreachable::Refused))
                };
                match reply {
                    Some(reply) => {
                        self.note(|| format!("n{node} ran #{req} for c{c}: {reply:?}"));
                        self.send_reply(c, gen, node, req, reply);
                    }
                    None => self.note(|| format!("n{node} took #{req} for c{c} (no answer yet)")),
                }
                self.after_server(node);
            }
            Ev::Reply {
                c,
                gen,
                node,
                req,
                reply,
            } => {
                if self.clients[usize::from(c)].gen != gen {
                    return;
                }
                if self.kind.is_idle_wakeup(&reply) {
                    self.report.idle_wakeups += 1;
                }
                let now = self.client_now(c);
                let input = self.kind.reply_input(now, req, node, reply);
                self.feed(c, input);
            }
            Ev::Timer { c, gen, armed } => {
                let client = &self.clients[usize::from(c)];
                if client.gen != gen || client.timer_token != armed {
                    return;
                }
                let Some(deadline) = client.armed else {
                    return;
                };
                let now = self.client_now(c);
                if now.0 < deadline {
                    // The clock stepped back after the timer was armed.
                    let at = self.client_real(c, deadline).max(self.now + 1);
                    self.push(at, Ev::Timer { c, gen, armed });
                    return;
                }
                self.clients[usize::from(c)].armed = None;
                let input = self.kind.timeout_input(now);
                self.feed(c, input);
            }
            Ev::Release { c, gen } => {
                let client = &self.clients[usize::from(c)];
                if client.gen != gen {
                    return;
                }
                let Some(machine) = client.machine.as_ref() else {
                    return;
                };
                if !self.kind.can_release(machine) {
                    return;
                }
                if client.writes_in_flight > 0 {
                    // Finish the writes first, then release.
                    self.clients[usize::from(c)].release_pending = true;
                    return;
                }
                let client = &self.clients[usize::from(c)];
                if let Some(h) = client.hold {
                    let hold = &mut self.holds[h as usize];
                    hold.stop = hold.stop.min(self.now);
                }
                let now = self.client_now(c);
                let input = self.kind.release_input(now);
                self.feed(c, input);
            }
            Ev::WriteCheck { c, gen } => self.write_check(c, gen),
            Ev::WriteLand { c, hold } => {
                self.write_land(hold);
                self.write_landed(c);
            }
            Ev::Pause { c, dur } => {
                if !self.healed && self.pause(c, dur) {
                    self.note(|| format!("c{c} paused for {}", ms(dur)));
                }
            }
            Ev::ClientJump { c, delta } => {
                self.note(|| format!("c{c} clock steps {delta} us"));
                let now = self.now;
                let client = &mut self.clients[usize::from(c)];
                client.clock.jump(now, delta);
                if let Some(h) = client.hold {
                    let vu = self.holds[h as usize].valid_until;
                    let real = self.client_real(c, vu);
                    self.holds[h as usize].valid_real = real;
                }
                let client = &mut self.clients[usize::from(c)];
                if let Some(d) = client.armed {
                    client.timer_token += 1;
                    let (gen, armed) = (client.gen, client.timer_token);
                    let at = self.client_real(c, d);
                    self.push(at, Ev::Timer { c, gen, armed });
                }
            }
            Ev::NodeJump { node, delta } => {
                self.note(|| format!("n{node} clock steps {delta} us"));
                let now = self.now;
                self.nodes[usize::from(node)].clock.jump(now, delta);
                self.after_server(node);
            }
            Ev::NodeDown { node } => {
                let ttl = self.plan.ttl * 1_000;
                let down = match self.profile.restarts {
                    Restarts::None => return,
                    Restarts::Persistent => self.rng.range(1_000, ttl),
                    Restarts::Amnesia => self.rng.range(1_000, ttl / 2),
                    Restarts::AmnesiaDelayed => ttl + ttl / 10 + 5_000 + self.rng.range(0, ttl),
                };
                let n = &mut self.nodes[usize::from(node)];
                if !n.up {
                    return;
                }
                n.up = false;
                n.epoch += 1;
                let epoch = n.epoch;
                self.note(|| format!("n{node} down for {}", ms(down)));
                self.push(self.now + down, Ev::NodeUp { node, epoch });
            }
            Ev::NodeUp { node, epoch } => {
                let persist = self.profile.restarts == Restarts::Persistent;
                let n = &mut self.nodes[usize::from(node)];
                if n.up || n.epoch != epoch {
                    return;
                }
                n.server.restart(persist);
                n.up = true;
                self.note(|| {
                    format!(
                        "n{node} back up {}",
                        if persist { "with its data" } else { "empty" }
                    )
                });
            }
            Ev::Partition {
                nodes,
                clients,
                dur,
            } => {
                if self.healed {
                    return;
                }
                self.note(|| {
                    format!(
                        "partition clients {clients:b} | nodes {nodes:b} for {}",
                        ms(dur)
                    )
                });
                let n = usize::from(self.plan.nodes);
                for c in 0..usize::from(self.plan.clients) {
                    for node in 0..n {
                        if clients & (1 << c) != 0 && nodes & (1 << node) != 0 {
                            let slot = &mut self.cut[c * n + node];
                            *slot = (*slot).max(self.now + dur);
                        }
                    }
                }
            }
            Ev::Heal => {
                self.healed = true;
                self.cut.iter_mut().for_each(|slot| *slot = 0);
                self.note(|| String::from("faults heal"));
            }
            Ev::ServerWake { node, token } => {
                let n = &mut self.nodes[usize::from(node)];
                if n.wake_token != token {
                    return;
                }
                n.wake_at = None;
                if n.up {
                    let local = n.clock.local(self.now);
                    n.server.wake(local);
                }
                self.after_server(node);
            }
            Ev::ServerFault { node, fault } => {
                self.note(|| format!("n{node}: {fault:?}"));
                let n = &mut self.nodes[usize::from(node)];
                let local = n.clock.local(self.now);
                n.server.fault(local, fault);
                self.after_server(node);
            }
        }
    }

    /// After a server ran anything: sends what it pushed (watch answers) and
    /// arms its next timer on its own clock.
    fn after_server(&mut self, node: u16) {
        let mut pushed = std::mem::take(&mut self.pushed);
        self.nodes[usize::from(node)]
            .server
            .drain_pushed(&mut pushed);
        for (caller, reply) in pushed.drain(..) {
            let (c, gen, req) = (caller.client, caller.gen, caller.req);
            self.note(|| format!("n{node} pushes #{req} to c{c}: {reply:?}"));
            self.send_reply(c, gen, node, req, reply);
        }
        self.pushed = pushed;
        let now = self.now;
        let n = &mut self.nodes[usize::from(node)];
        let at = n
            .server
            .next_wakeup()
            .map(|local| n.clock.global_at(local, now).max(now));
        if at != n.wake_at {
            n.wake_at = at;
            n.wake_token += 1;
            if let Some(at) = at {
                let token = n.wake_token;
                self.push(at, Ev::ServerWake { node, token });
            }
        }
    }

    fn finish(&mut self) {
        let end = self.now;
        // (b) mutual exclusion, per resource: sweep holds by acquisition time.
        for r in 0..usize::from(self.plan.resources) {
            let mut ids = self.per_resource[r].clone();
            ids.sort_by_key(|&h| (self.holds[h as usize].acquired, h));
            let mut latest: Option<(u64, u32)> = None;
            for &h in &ids {
                let hold = self.holds[h as usize].clone();
                if let Some((until, other)) = latest {
                    if hold.acquired < until {
                        self.report.overlaps += 1;
                        let o = &self.holds[other as usize];
                        let line = format!(
                            "(b) r{r}: c{} cycle {} acquired at {} while c{} cycle {} (token {:?}) believed it held until {} (valid until {}, last write {})",
                            hold.client,
                            hold.cycle,
                            ms(hold.acquired),
                            o.client,
                            o.cycle,
                            o.token,
                            ms(until),
                            ms(o.natural_end().min(end)),
                            ms(o.last_write)
                        );
                        let culprit = (o.client, o.cycle);
                        self.finding(line, culprit);
                    }
                }
                let until = hold.belief_end(end);
                if latest.is_none_or(|(u, _)| until > u) {
                    latest = Some((until, h));
                }
            }
        }
        // (c) liveness after healing.
        match self.report.liveness {
            Some(t) if t <= self.plan.liveness_bound => {}
            _ => {
                self.report.liveness_failed = true;
                let line = format!(
                    "(c) no acquisition within {} after faults healed at {}",
                    ms(self.plan.liveness_bound),
                    ms(self.plan.heal_at)
                );
                self.finding(line, (0, 0));
            }
        }
    }
}

/// Writes the report's findings and counters as text.
#[must_use]
pub fn describe(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profile {} seed {}: {} cycles, {} acquired, {} events; writes {} accepted / {} rejected",
        report.profile,
        report.seed,
        report.cycles,
        report.acquired,
        report.events,
        report.writes_accepted,
        report.writes_rejected
    );
    for line in &report.findings {
        let _ = writeln!(out, "  {line}");
    }
    out
}
