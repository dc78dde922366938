//! fencelock-sim: a deterministic discrete-event simulator for fencelock-core.
//!
//! Many clients, each driving the **real** core machines, run against simulated
//! servers over a simulated network, with per-process clocks, process pauses and
//! server restarts. Two lock algorithms plug into the same loop: Redlock against
//! simulated Redis masters ([`redis`]) and the etcd lease mutex or election
//! against a simulated etcd cluster ([`etcd`]). A fenced resource records every
//! write. Checkers:
//!
//! - **(a) fencing**: no token is issued to two leases of one resource, and the
//!   resource never accepts an owner again after another owner's write (its guard
//!   never accepts a token lower than one it accepted);
//! - **(b) mutual exclusion**: no two leases of one resource are believed held at
//!   the same real time (from `acquired` until the client's clock reaches
//!   `valid_until`, it releases or loses the lease, or its last write lands);
//! - **(c) liveness**: once the faults heal, some client acquires within a bound.
//!
//! Also measured: token regressions (a lease acquired after another ended, with a
//! token not above it), stale writes accepted, and inputs the machine refused.
//!
//! Everything comes from the seed: the same profile and seed replay the same
//! trace. See [`run_seed`], [`run_profile`] and the `fencelock-sim` binary.
#![forbid(unsafe_code)]

pub mod clock;
pub mod etcd;
pub mod fuzz;
pub mod kind;
pub mod profile;
pub mod redis;
pub mod resource;
pub mod rng;
pub mod vector;
pub mod world;

use std::time::{Duration, Instant};

use fencelock_core::backoff::RetryPolicy;
use fencelock_core::etcd::{EtcdConfig, WaitMode};
use fencelock_core::redlock::RedlockConfig;

use crate::etcd::{EtcdKind, EtcdServer};
use crate::profile::{Backend, Check, Plan, Profile};
use crate::redis::{RedisNode, RedlockKind};
use crate::rng::Rng;
use crate::world::{Options, Report, VectorRecord, World};

/// Per-profile salt, so one seed gives unrelated worlds under different profiles.
#[must_use]
pub fn salt(name: &str) -> u64 {
    // FNV-1a.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The Redlock configuration a plan gives every client.
#[must_use]
pub fn redlock_config(profile: &Profile, plan: &Plan) -> RedlockConfig {
    let mut config = RedlockConfig::new(u32::from(plan.nodes), plan.ttl);
    config.drift_ppm = plan.config_drift_ppm;
    config.node_timeout = Some(plan.node_timeout);
    config.auto_extend = plan.auto_extend;
    config.fencing = profile.fencing;
    if let Some(delay) = plan.fixed_retry {
        config.retry = RetryPolicy::fixed(delay, delay / 4);
    }
    config.retry.max_attempts = plan.max_attempts;
    config
}

/// The etcd configuration a plan gives every client (the wait mode is chosen per
/// acquisition: see [`EtcdKind::config_for`]).
#[must_use]
pub fn etcd_config(plan: &Plan) -> EtcdConfig {
    let etcd = plan.etcd.as_ref().expect("an etcd plan");
    let mut config = EtcdConfig::new(etcd.ttl_secs);
    config.drift_ppm = plan.config_drift_ppm;
    config.request_timeout = etcd.request_timeout;
    config.wait = WaitMode::Watch {
        recheck: etcd.recheck,
    };
    if let Some(delay) = plan.fixed_retry {
        config.retry = RetryPolicy::fixed(delay, delay / 4);
    }
    config.retry.max_attempts = plan.max_attempts;
    config
}

/// Everything one run produced.
pub struct Run {
    /// Counters and findings.
    pub report: Report,
    /// The trace, if asked for.
    pub trace: Option<Vec<String>>,
    /// The recorded machine, if asked for.
    pub record: VectorRecord,
    /// The plan drawn from the seed.
    pub plan: Plan,
    /// The recorded machine's name in conformance vectors.
    pub machine: &'static str,
}

/// Runs one world for `profile` and `seed` (Redlock or etcd, as the profile says).
#[must_use]
pub fn run_seed(profile: &Profile, seed: u64, options: &Options) -> Run {
    match profile.backend {
        Backend::Redlock => run_redlock(profile, seed, options),
        Backend::Etcd => run_etcd(profile, seed, options),
    }
}

fn run_etcd(profile: &Profile, seed: u64, options: &Options) -> Run {
    let mut rng = Rng::new(seed ^ salt(profile.name));
    let plan = Plan::draw_etcd(profile, &mut rng);
    let etcd = plan.etcd.clone().expect("an etcd plan");
    let kind = EtcdKind {
        config: etcd_config(&plan),
        recipe: etcd.recipe,
        poll_per_mille: etcd.poll_per_mille,
        poll_interval: etcd.poll_interval,
        fencing: profile.fencing,
        proclaim: profile.proclaims,
    };
    run_world(kind, profile, seed, plan, rng.fork(), options, || {
        EtcdServer::new(etcd.server)
    })
}

fn run_redlock(profile: &Profile, seed: u64, options: &Options) -> Run {
    let mut rng = Rng::new(seed ^ salt(profile.name));
    let plan = Plan::draw(profile, &mut rng);
    let kind = RedlockKind::new(redlock_config(profile, &plan));
    let (rule, bugs) = (profile.counter, profile.server_bugs);
    run_world(kind, profile, seed, plan, rng.fork(), options, || {
        RedisNode::new(rule, bugs)
    })
}

/// Runs `kind`'s world for `plan` (the world's random draws come from `rng`) and
/// labels the report with `profile` and `seed`.
fn run_world<K: crate::kind::LockKind>(
    kind: K,
    profile: &Profile,
    seed: u64,
    plan: Plan,
    rng: Rng,
    options: &Options,
    make_server: impl Fn() -> K::Server,
) -> Run {
    let machine = kind.machine_name();
    let world = World::new(kind, profile, plan.clone(), rng, options, make_server);
    let (mut report, trace, record) = world.run();
    report.profile = profile.name.to_owned();
    report.seed = seed;
    Run {
        report,
        trace,
        record,
        plan,
        machine,
    }
}

/// Totals over many seeds of one profile.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Profile name.
    pub profile: String,
    /// Seeds run.
    pub seeds: u64,
    /// Lock cycles (machines run to a terminal state).
    pub cycles: u64,
    /// Leases acquired.
    pub acquired: u64,
    /// Events processed.
    pub events: u64,
    /// Writes rejected as stale by the resource.
    pub rejected: u64,
    /// Fence write-back commands.
    pub fence_commands: u64,
    /// Commands the clients sent (`cancel_watch` included).
    pub requests: u64,
    /// Watch answers that carried no delete.
    pub idle_wakeups: u64,
    /// Seeds in which each check fired, in [`Check::ALL`] order.
    pub fired: [u64; 6],
    /// Total findings per check (events, pairs, writes).
    pub counts: [u64; 6],
    /// Slowest liveness (healing to first acquisition), µs.
    pub slowest_liveness: u64,
    /// CPU time spent in runs, summed over worker threads (the thread's own CPU
    /// time where the OS reports it, so other load on the machine does not count).
    pub busy: Duration,
    /// First failing seeds per check, with their reports.
    pub failures: Vec<(Check, Report)>,
}

impl Summary {
    fn add(&mut self, report: Report) {
        self.seeds += 1;
        self.cycles += report.cycles;
        self.acquired += report.acquired;
        self.events += report.events;
        self.rejected += report.writes_rejected;
        self.fence_commands += report.fence_commands;
        self.requests += report.requests;
        self.idle_wakeups += report.idle_wakeups;
        self.slowest_liveness = self.slowest_liveness.max(report.liveness.unwrap_or(0));
        let counts = [
            report.duplicate_tokens + report.interleaved,
            report.overlaps,
            u64::from(report.liveness_failed || report.stuck),
            report.regressions,
            report.stale_accepted,
            report.contract,
        ];
        for (i, check) in Check::ALL.iter().enumerate() {
            if report.fired(*check) {
                self.fired[i] += 1;
                self.counts[i] += counts[i];
                let kept = self.failures.iter().filter(|(c, _)| c == check).count();
                if kept < 3 {
                    self.failures.push((*check, report.clone()));
                }
            }
        }
    }

    fn merge(&mut self, other: Summary) {
        self.seeds += other.seeds;
        self.cycles += other.cycles;
        self.acquired += other.acquired;
        self.events += other.events;
        self.rejected += other.rejected;
        self.fence_commands += other.fence_commands;
        self.requests += other.requests;
        self.idle_wakeups += other.idle_wakeups;
        self.slowest_liveness = self.slowest_liveness.max(other.slowest_liveness);
        self.busy += other.busy;
        for i in 0..6 {
            self.fired[i] += other.fired[i];
            self.counts[i] += other.counts[i];
        }
        for (check, report) in other.failures {
            let kept = self.failures.iter().filter(|(c, _)| *c == check).count();
            if kept < 3 {
                self.failures.push((check, report));
            }
        }
        self.failures.sort_by_key(|(c, r)| (*c as u8, r.seed));
    }

    /// Simulated lock cycles per second of one core.
    #[must_use]
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.busy.as_secs_f64().max(1e-9)
    }

    /// Seeds in which `check` fired.
    #[must_use]
    pub fn fired(&self, check: Check) -> u64 {
        self.fired[Check::ALL.iter().position(|c| *c == check).unwrap_or(0)]
    }

    /// Checks this summary breaks against its profile: `(check, fired, allowed)`;
    /// a check that fired but is not allowed, or is required and never fired.
    #[must_use]
    pub fn unexpected(&self, profile: &Profile) -> Vec<String> {
        let mut problems = Vec::new();
        for check in Check::ALL {
            let fired = self.fired(check);
            if fired > 0 && !profile.allows(check) {
                problems.push(format!(
                    "{}: {} fired in {fired} seeds, but the profile does not allow it",
                    profile.name,
                    check.name()
                ));
            }
            if fired == 0 && profile.must.contains(&check) {
                problems.push(format!(
                    "{}: {} never fired, but this profile's known failure must show",
                    profile.name,
                    check.name()
                ));
            }
        }
        problems
    }
}

/// Runs seeds `first..first + count` of `profile` on `jobs` threads.
#[must_use]
pub fn run_profile(profile: &Profile, first: u64, count: u64, jobs: usize) -> Summary {
    let jobs = jobs.max(1) as u64;
    let options = Options::default();
    let mut total = Summary {
        profile: profile.name.to_owned(),
        ..Summary::default()
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|j| {
                let options = &options;
                scope.spawn(move || {
                    let mut summary = Summary::default();
                    let started = Instant::now();
                    let cpu_start = thread_cpu_time();
                    let mut seed = first + j;
                    while seed < first + count {
                        let report = run_guarded(profile, seed, options);
                        summary.add(report);
                        seed += jobs;
                    }
                    summary.busy = match (cpu_start, thread_cpu_time()) {
                        (Some(a), Some(b)) if b > a => b - a,
                        _ => started.elapsed(),
                    };
                    summary
                })
            })
            .collect();
        for worker in workers {
            total.merge(worker.join().expect("worker thread"));
        }
    });
    total
}

/// CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs one seed; a panic inside becomes a contract finding with the seed.
#[must_use]
pub fn run_guarded(profile: &Profile, seed: u64, options: &Options) -> Report {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_seed(profile, seed, options).report
    })) {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Report {
                profile: profile.name.to_owned(),
                seed,
                contract: 1,
                findings: vec![format!("panic: {message}")],
                ..Report::default()
            }
        }
    }
}
