//! Fault profiles and the per-seed plan drawn from them (swarm testing: every
//! knob of a run comes from its seed, inside the ranges its profile allows).

use crate::etcd::{EtcdBugs, EtcdRecipe, EtcdServerSetup};
use crate::kind::ServerFault;
use crate::redis::{CounterRule, ServerBugs};
use crate::rng::Rng;

/// Which lock algorithm a profile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Redlock over N simulated Redis masters.
    Redlock,
    /// The etcd lease mutex (or election) over one simulated etcd cluster.
    Etcd,
}

impl Backend {
    /// CLI name (`--kind`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Redlock => "redlock",
            Backend::Etcd => "etcd",
        }
    }
}

/// How far process clocks run from real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Every clock runs at exactly the real rate.
    Exact,
    /// Rates within `drift_ppm / 2` of real time, so any two clocks differ by at
    /// most the configured allowance.
    Within,
    /// Rates off by one to twenty times the allowance.
    Beyond,
}

/// Process pauses (GC, SIGSTOP, VM migration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pauses {
    /// No pauses.
    None,
    /// Pauses shorter than the safety margin a client keeps before `valid_until`.
    Short,
    /// Pauses longer than the validity window, some of them between a client's
    /// validity check and its write (Kleppmann's example).
    Long,
}

/// Redis master restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restarts {
    /// No restarts.
    None,
    /// Restarts that keep every acknowledged write (AOF, `appendfsync always`).
    Persistent,
    /// Restarts that lose everything, back within half a TTL.
    Amnesia,
    /// Restarts that lose everything, kept down for more than one TTL first
    /// (Redlock's "delayed restart").
    AmnesiaDelayed,
}

/// Spread of the Redis masters' clock offsets (what a time-seeded counter sees).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skew {
    /// Offsets within a quarter of a TTL of each other.
    WithinTtl,
    /// Offsets spread over up to ten TTLs.
    BeyondTtl,
}

/// A client that misbehaves (a planted bug on the host side).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientBug {
    /// The client stops writing at its local `valid_until`.
    #[default]
    None,
    /// The client ignores `valid_until` and `lost`, and writes until it releases.
    IgnoresValidity,
}

/// A checker (or measurement) reported per profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// (a) fencing: a token issued to two leases, or owners interleaved at the resource.
    Fencing,
    /// (b) mutual exclusion: two clients believed they held the lock at once.
    Mutex,
    /// (c) liveness: no acquisition within the bound after the faults healed.
    Liveness,
    /// A lease acquired after another one ended got a token that is not larger.
    Regression,
    /// The resource accepted a write from a holder whose hold had ended before the
    /// last accepted writer acquired.
    StaleAccepted,
    /// The machine refused an input the simulated host built (a contract break).
    Contract,
}

impl Check {
    /// Every check, in table order.
    pub const ALL: [Check; 6] = [
        Check::Fencing,
        Check::Mutex,
        Check::Liveness,
        Check::Regression,
        Check::StaleAccepted,
        Check::Contract,
    ];

    /// Short column name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Check::Fencing => "(a) fencing",
            Check::Mutex => "(b) mutex",
            Check::Liveness => "(c) liveness",
            Check::Regression => "token regress",
            Check::StaleAccepted => "stale accepted",
            Check::Contract => "contract",
        }
    }
}

/// A fault profile: which faults a run may draw, and which checkers may (or must)
/// fire under it.
#[derive(Clone, Debug)]
pub struct Profile {
    /// CLI name.
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
    /// The lock algorithm.
    pub backend: Backend,
    /// etcd: leader changes (every lease refreshed to its full TTL by the new
    /// leader).
    pub leader_changes: bool,
    /// etcd: planted bugs of the simulated cluster.
    pub etcd_bugs: EtcdBugs,
    /// etcd: every client campaigns in an election, and the leader proclaims a
    /// new value at each write (otherwise one seed in five runs elections without
    /// proclaims, the others mutexes).
    pub proclaims: bool,
    /// etcd: every acquisition polls and has a deadline of 1.2 to 4 poll
    /// intervals (waiters behind waiters that give up at their deadlines: the
    /// machine's last look at the deadline keeps the lock from starving).
    pub poll_deadline: bool,
    /// Loss, duplication, reordering, tail latency and partitions that heal.
    pub network: bool,
    /// Messages on one connection may overtake each other (breaks the host
    /// contract: commands reach a node in the order they were emitted).
    pub unordered: bool,
    /// Clock rates.
    pub drift: Drift,
    /// Clock jumps (clients: forward leaps and stalls; masters: steps either way).
    pub jumps: bool,
    /// Master clocks leap forward many times, so lock keys expire at any moment.
    pub expiry_chaos: bool,
    /// Process pauses.
    pub pauses: Pauses,
    /// Master restarts.
    pub restarts: Restarts,
    /// Counter rule of the simulated masters.
    pub counter: CounterRule,
    /// Spread of master clock offsets.
    pub skew: Skew,
    /// Fencing tokens on.
    pub fencing: bool,
    /// Planted client bug.
    pub client_bug: ClientBug,
    /// Planted server bugs.
    pub server_bugs: ServerBugs,
    /// Force every client's `drift_ppm` (a planted configuration bug).
    pub drift_ppm: Option<u32>,
    /// Whether the profile keeps the documented assumptions.
    pub keeps_assumptions: bool,
    /// Checks that may fire (all others must stay at zero).
    pub may: &'static [Check],
    /// Checks that must fire at least once in a bounded run (the known failures).
    pub must: &'static [Check],
    /// Why the allowed checks fire.
    pub why: &'static str,
}

impl Profile {
    fn base(name: &'static str, about: &'static str) -> Profile {
        Profile {
            name,
            about,
            backend: Backend::Redlock,
            leader_changes: false,
            etcd_bugs: EtcdBugs::default(),
            proclaims: false,
            poll_deadline: false,
            network: false,
            unordered: false,
            drift: Drift::Exact,
            jumps: false,
            expiry_chaos: false,
            pauses: Pauses::None,
            restarts: Restarts::None,
            counter: CounterRule::Core,
            skew: Skew::WithinTtl,
            fencing: true,
            client_bug: ClientBug::None,
            server_bugs: ServerBugs::default(),
            drift_ppm: None,
            keeps_assumptions: true,
            may: &[],
            must: &[],
            why: "keeps every documented assumption: no checker may fire",
        }
    }

    /// Every named profile, in table order.
    #[must_use]
    pub fn all() -> Vec<Profile> {
        let none = Profile::base("none", "no faults: latency only");
        let network = Profile {
            network: true,
            ..Profile::base(
                "network",
                "loss, duplication, reordering, tail latency, partitions that heal",
            )
        };
        let clocks = Profile {
            drift: Drift::Within,
            ..Profile::base("clocks", "clock rates drift within drift_ppm; no jumps")
        };
        let pauses = Profile {
            pauses: Pauses::Short,
            ..Profile::base(
                "pauses",
                "process pauses shorter than the client's safety margin",
            )
        };
        let restarts = Profile {
            restarts: Restarts::Persistent,
            ..Profile::base(
                "restarts",
                "master restarts with persistence (AOF, fsync always)",
            )
        };
        let all = Profile {
            network: true,
            drift: Drift::Within,
            pauses: Pauses::Short,
            restarts: Restarts::Persistent,
            ..Profile::base(
                "all",
                "network + clocks + pauses + restarts, all within the assumptions",
            )
        };
        let broken = |name, about, why, may, must| Profile {
            keeps_assumptions: false,
            may,
            must,
            why,
            ..Profile::base(name, about)
        };
        vec![
            none,
            network,
            clocks,
            pauses,
            restarts,
            all,
            Profile {
                drift: Drift::Beyond,
                jumps: true,
                ..broken(
                    "clocks-beyond",
                    "clock rates beyond drift_ppm, and jumps",
                    "a master whose clock runs fast or steps forward expires keys early; a client whose clock runs slow or stalls holds too long: (b) fires; tokens stay unique and follow the order of the holds on the masters, which may differ from the order of the acquired events (token regress)",
                    &[Check::Mutex, Check::Regression],
                    &[Check::Mutex],
                )
            },
            Profile {
                network: true,
                unordered: true,
                ..Profile::base(
                    "network-unordered",
                    "as network, but commands to one node may overtake each other (a host that breaks the per-node order); each retry writes its own value, so a late release never deletes a newer attempt's key",
                )
            },
            Profile {
                network: true,
                expiry_chaos: true,
                ..broken(
                    "expiry-chaos",
                    "master clocks leap forward dozens of times (keys expire at any moment), plus network faults",
                    "keys vanish under their holders, so (b) fires; fencing uses no clock: tokens stay unique and follow the order of the holds on the masters, which may differ from the order of the acquired events (token regress)",
                    &[Check::Mutex, Check::Regression],
                    &[Check::Mutex],
                )
            },
            Profile {
                pauses: Pauses::Long,
                ..broken(
                    "pauses-long",
                    "pauses longer than the validity window, fencing on",
                    "a holder paused between its validity check and its write believes it holds while the next holder does: (b) fires; the resource rejects the late write",
                    &[Check::Mutex],
                    &[Check::Mutex],
                )
            },
            Profile {
                pauses: Pauses::Long,
                fencing: false,
                ..broken(
                    "pauses-long-nofence",
                    "pauses longer than the validity window, fencing off",
                    "as pauses-long, but without tokens the resource accepts the paused holder's late write",
                    &[Check::Mutex, Check::StaleAccepted],
                    &[Check::Mutex, Check::StaleAccepted],
                )
            },
            Profile {
                restarts: Restarts::Amnesia,
                ..broken(
                    "restarts-amnesia",
                    "masters restart empty, at once (no persistence, no delay)",
                    "a master that forgets a held key grants it again: (b) fires; its counters resume from its clock",
                    &[Check::Mutex, Check::Fencing, Check::Regression, Check::StaleAccepted],
                    &[Check::Mutex],
                )
            },
            Profile {
                restarts: Restarts::AmnesiaDelayed,
                ..Profile::base(
                    "restarts-delayed",
                    "masters restart empty after one TTL (Redlock's delayed restart), master clocks within a TTL",
                )
            },
            Profile {
                restarts: Restarts::AmnesiaDelayed,
                skew: Skew::BeyondTtl,
                ..broken(
                    "restarts-delayed-skewed",
                    "as restarts-delayed, master clocks up to ten TTLs apart",
                    "a master whose clock is behind by more than the restart delay resumes below tokens another master issued",
                    &[Check::Fencing, Check::Regression, Check::StaleAccepted],
                    &[],
                )
            },
            Profile {
                restarts: Restarts::AmnesiaDelayed,
                counter: CounterRule::Plain,
                ..broken(
                    "restarts-delayed-plain",
                    "as restarts-delayed, with counters that count from zero again after data loss (the first acquire script)",
                    "the delay protects the lock keys, (b) stays at zero, but not plain counters: tokens repeat (a) and regress",
                    &[Check::Fencing, Check::Regression, Check::StaleAccepted],
                    &[Check::Regression],
                )
            },
            Profile {
                restarts: Restarts::AmnesiaDelayed,
                counter: CounterRule::TimeSeeded,
                ..broken(
                    "restarts-delayed-time",
                    "as restarts-delayed, counters max(counter + 1, now_us) on every bump",
                    "time-seeded counters resume above the old tokens when master clocks agree within a TTL",
                    &[Check::Fencing, Check::Regression, Check::StaleAccepted],
                    &[],
                )
            },
            Profile {
                restarts: Restarts::AmnesiaDelayed,
                counter: CounterRule::TimeSeeded,
                skew: Skew::BeyondTtl,
                ..broken(
                    "restarts-delayed-time-skewed",
                    "as restarts-delayed-time, master clocks up to ten TTLs apart",
                    "a master whose clock is behind by more than the restart delay resumes below tokens another master issued",
                    &[Check::Fencing, Check::Regression, Check::StaleAccepted],
                    &[],
                )
            },
        ]
        .into_iter()
        .chain(Profile::etcd_all())
        .collect()
    }

    fn etcd(name: &'static str, about: &'static str) -> Profile {
        Profile {
            backend: Backend::Etcd,
            ..Profile::base(name, about)
        }
    }

    /// The etcd profiles, in table order.
    fn etcd_all() -> Vec<Profile> {
        let broken = |name, about, why, may, must| Profile {
            keeps_assumptions: false,
            may,
            must,
            why,
            ..Profile::etcd(name, about)
        };
        vec![
            Profile::etcd("etcd-none", "etcd: no faults, latency only"),
            Profile {
                network: true,
                unordered: true,
                ..Profile::etcd(
                    "etcd-network",
                    "etcd: loss, duplication, reordering (etcd commands may run concurrently), tail latency, partitions that heal, compactions, watches cancelled by the server",
                )
            },
            Profile {
                drift: Drift::Within,
                ..Profile::etcd(
                    "etcd-clocks",
                    "etcd: client and leader clock rates drift within drift_ppm; no jumps",
                )
            },
            Profile {
                pauses: Pauses::Short,
                ..Profile::etcd(
                    "etcd-pauses",
                    "etcd: process pauses shorter than the client's safety margin",
                )
            },
            Profile {
                leader_changes: true,
                ..Profile::etcd(
                    "etcd-leader-change",
                    "etcd: leader elections (requests fail meanwhile); the new leader refreshes every lease to its full TTL",
                )
            },
            Profile {
                network: true,
                unordered: true,
                drift: Drift::Within,
                pauses: Pauses::Short,
                leader_changes: true,
                ..Profile::etcd(
                    "etcd-all",
                    "etcd: network + clocks + pauses + leader changes, all within the assumptions",
                )
            },
            Profile {
                proclaims: true,
                why: "keeps every documented assumption: no checker may fire; a waiter is woken once by each proclaim of the leader it waits on (the count of watch answers without a delete shows it)",
                ..Profile::etcd(
                    "etcd-election",
                    "etcd: elections; the leader proclaims a new value at each write",
                )
            },
            Profile {
                poll_deadline: true,
                ..Profile::etcd(
                    "etcd-poll-deadline",
                    "etcd: every acquisition polls (no watch) and gives up after 1.2 to 4 poll intervals; contenders retry at once (a waiter's predecessor is often a waiter that gives up at its own deadline: the last look at the deadline sees it gone)",
                )
            },
            Profile {
                drift: Drift::Beyond,
                jumps: true,
                ..broken(
                    "etcd-clocks-beyond",
                    "etcd: clock rates beyond drift_ppm, and jumps",
                    "a leader whose clock runs fast or steps forward expires a lease before its holder's validity ends; a client whose clock runs slow or stalls holds too long: (b) fires; tokens are revisions and use no clock, (a) stays at zero",
                    &[Check::Mutex],
                    &[Check::Mutex],
                )
            },
            Profile {
                pauses: Pauses::Long,
                ..broken(
                    "etcd-pauses-long",
                    "etcd: pauses longer than the validity window, fencing on",
                    "a holder paused between its validity check and its write believes it holds while the next holder does: (b) fires; the resource rejects the late write",
                    &[Check::Mutex],
                    &[Check::Mutex],
                )
            },
            Profile {
                pauses: Pauses::Long,
                fencing: false,
                ..broken(
                    "etcd-pauses-long-nofence",
                    "etcd: pauses longer than the validity window, fencing off",
                    "as etcd-pauses-long, but without tokens the resource accepts the paused holder's late write",
                    &[Check::Mutex, Check::StaleAccepted],
                    &[Check::Mutex, Check::StaleAccepted],
                )
            },
        ]
    }

    /// The profiles of one backend.
    #[must_use]
    pub fn of(backend: Backend) -> Vec<Profile> {
        Profile::all()
            .into_iter()
            .filter(|p| p.backend == backend)
            .collect()
    }

    /// The profile called `name`.
    #[must_use]
    pub fn named(name: &str) -> Option<Profile> {
        Profile::all().into_iter().find(|p| p.name == name)
    }

    /// Whether `check` may fire under this profile.
    #[must_use]
    pub fn allows(&self, check: Check) -> bool {
        self.may.contains(&check)
    }
}

/// A bug planted in a profile to prove a checker fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// Clients configured with `drift_ppm = 0` while clocks drift within the real
    /// allowance (the drift term removed): (b) fires.
    DriftZero,
    /// A client that ignores `valid_until` and `lost`: (b) fires.
    ClientIgnoresValidity,
    /// The simulated fence script writes its token even over a higher counter: (a).
    FenceSkipsHigherCheck,
    /// The simulated fence script writes even when our value lost the key: (a).
    FenceSkipsHolderCheck,
    /// The simulated acquire script never bumps the counter: (a).
    AcquireSkipsBump,
    /// The simulated masters set lock keys without a TTL: (c) fires once a release
    /// is lost.
    IgnoresTtl,
    /// The simulated etcd answers keep-alives without renewing the lease: it
    /// expires a TTL after its grant under a holder that believes it renewed: (b).
    EtcdKeepAliveNoRenew,
    /// The simulated etcd gives a transaction's writes the current revision
    /// instead of a new one: two keys share a create revision, so a token: (a).
    EtcdRevisionNotBumped,
    /// The simulated etcd never expires a lease: a key whose cleanup got no
    /// answer stays for ever: (c).
    EtcdLeaseNeverExpires,
}

impl Plant {
    /// Every planted bug.
    pub const ALL: [Plant; 9] = [
        Plant::DriftZero,
        Plant::ClientIgnoresValidity,
        Plant::FenceSkipsHigherCheck,
        Plant::FenceSkipsHolderCheck,
        Plant::AcquireSkipsBump,
        Plant::IgnoresTtl,
        Plant::EtcdKeepAliveNoRenew,
        Plant::EtcdRevisionNotBumped,
        Plant::EtcdLeaseNeverExpires,
    ];

    /// CLI name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Plant::DriftZero => "drift-zero",
            Plant::ClientIgnoresValidity => "client-ignores-validity",
            Plant::FenceSkipsHigherCheck => "fence-skips-higher-check",
            Plant::FenceSkipsHolderCheck => "fence-skips-holder-check",
            Plant::AcquireSkipsBump => "acquire-skips-bump",
            Plant::IgnoresTtl => "ignores-ttl",
            Plant::EtcdKeepAliveNoRenew => "etcd-keepalive-no-renew",
            Plant::EtcdRevisionNotBumped => "etcd-revision-not-bumped",
            Plant::EtcdLeaseNeverExpires => "etcd-lease-never-expires",
        }
    }

    /// The planted bug called `name`.
    #[must_use]
    pub fn named(name: &str) -> Option<Plant> {
        Plant::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The profile the bug is planted in, and the checker that must catch it.
    #[must_use]
    pub fn base(self) -> (&'static str, Check) {
        match self {
            Plant::DriftZero => ("clocks", Check::Mutex),
            Plant::ClientIgnoresValidity => ("none", Check::Mutex),
            Plant::FenceSkipsHigherCheck | Plant::FenceSkipsHolderCheck => {
                ("expiry-chaos", Check::Fencing)
            }
            Plant::AcquireSkipsBump => ("none", Check::Fencing),
            Plant::IgnoresTtl => ("network", Check::Liveness),
            Plant::EtcdKeepAliveNoRenew => ("etcd-none", Check::Mutex),
            Plant::EtcdRevisionNotBumped => ("etcd-none", Check::Fencing),
            Plant::EtcdLeaseNeverExpires => ("etcd-network", Check::Liveness),
        }
    }
}

impl Profile {
    /// This profile with `bug` planted: the bug's checker must fire (and others
    /// the bug drags along may).
    #[must_use]
    pub fn plant(mut self, bug: Plant) -> Profile {
        let (_, check) = bug.base();
        match bug {
            Plant::DriftZero => self.drift_ppm = Some(0),
            Plant::ClientIgnoresValidity => self.client_bug = ClientBug::IgnoresValidity,
            Plant::FenceSkipsHigherCheck => self.server_bugs.fence_skips_higher_check = true,
            Plant::FenceSkipsHolderCheck => self.server_bugs.fence_skips_holder_check = true,
            Plant::AcquireSkipsBump => self.server_bugs.acquire_skips_bump = true,
            Plant::IgnoresTtl => self.server_bugs.ignores_ttl = true,
            Plant::EtcdKeepAliveNoRenew => self.etcd_bugs.keepalive_no_renew = true,
            Plant::EtcdRevisionNotBumped => self.etcd_bugs.revision_not_bumped = true,
            Plant::EtcdLeaseNeverExpires => self.etcd_bugs.lease_never_expires = true,
        }
        self.keeps_assumptions = false;
        self.why = "a planted bug";
        self.must = match check {
            Check::Mutex => &[Check::Mutex],
            Check::Fencing => &[Check::Fencing],
            _ => &[Check::Liveness],
        };
        self.may = &[
            Check::Fencing,
            Check::Mutex,
            Check::Liveness,
            Check::Regression,
            Check::StaleAccepted,
        ];
        self
    }
}

/// Everything one run draws from its seed.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Redis masters.
    pub nodes: u16,
    /// Clients.
    pub clients: u16,
    /// Lock TTL, ms.
    pub ttl: u64,
    /// The clocks' real drift allowance, ppm: clock rates are drawn from it.
    pub drift_ppm: u32,
    /// The `drift_ppm` the clients' machines are configured with (the same,
    /// unless a profile plants a wrong one).
    pub config_drift_ppm: u32,
    /// Validity window `ttl - drift`, ms.
    pub window: u64,
    /// Per-node timeout, ms.
    pub node_timeout: u64,
    /// Auto-extension on.
    pub auto_extend: bool,
    /// Resources in the pool (1 or 2).
    pub resources: u16,
    /// Per mille of cycles that lock every resource of the pool at once.
    pub multi_per_mille: u64,
    /// `max_attempts` of the retry policy (`None`: until the deadline).
    pub max_attempts: Option<u32>,
    /// Acquire deadline, ms.
    pub acquire_timeout: Option<u64>,
    /// Fixed retry delay (ms) instead of the default exponential schedule.
    pub fixed_retry: Option<u64>,
    /// Longest hold a client aims for, ms of its own clock.
    pub hold_max: u64,
    /// Writes per hold, at most.
    pub writes_max: u64,
    /// Longest write (from the validity check to the write landing), µs.
    pub work_max: u64,
    /// Margin a client keeps before `valid_until` when it decides to write, ms.
    pub margin: u64,
    /// Longest think time between cycles, µs.
    pub think_max: u64,
    /// Base one-way latency, µs.
    pub latency: u64,
    /// Latency jitter, µs.
    pub jitter: u64,
    /// Per mille of messages lost (fault phase).
    pub loss: u64,
    /// Per mille of requests duplicated (fault phase).
    pub dup: u64,
    /// Per mille of messages delayed out of order (fault phase).
    pub reorder: u64,
    /// Per mille of messages given a tail delay (fault phase).
    pub tail: u64,
    /// Longest tail delay, µs.
    pub tail_max: u64,
    /// Partitions during the fault phase.
    pub partitions: u32,
    /// Random pauses per client during the fault phase.
    pub pauses: u32,
    /// Longest random pause, µs.
    pub pause_max: u64,
    /// Per mille of writes with a long pause between the check and the write.
    pub pause_at_write: u64,
    /// Restarts per master during the fault phase, at most.
    pub restarts: u32,
    /// Clock jumps per process during the fault phase, at most.
    pub jumps: u32,
    /// Forward leaps per master clock during the fault phase (expiry chaos).
    pub leaps: u32,
    /// When faults heal, µs from the start.
    pub heal_at: u64,
    /// Liveness bound after healing, µs.
    pub liveness_bound: u64,
    /// End of the run (no cycle starts after it), µs.
    pub end: u64,
    /// Per mille of acquisitions that are try-locks (kinds that have one).
    pub try_lock_per_mille: u64,
    /// No event runs after this time, µs (`None`: the run ends when nothing is
    /// left to do). A waiter without a deadline may wait for ever behind a key
    /// that never goes (a planted bug), so etcd runs stop here.
    pub horizon: Option<u64>,
    /// What only an etcd run draws.
    pub etcd: Option<EtcdPlan>,
}

/// The part of a plan only an etcd run has.
#[derive(Clone, Debug)]
pub struct EtcdPlan {
    /// Mutex or election.
    pub recipe: EtcdRecipe,
    /// TTL the clients request, seconds.
    pub ttl_secs: u64,
    /// The simulated cluster.
    pub server: EtcdServerSetup,
    /// `request_timeout` of the clients' config (`None`: the default).
    pub request_timeout: Option<u64>,
    /// Watch recheck of the clients' config (`None`: the default, the TTL).
    pub recheck: Option<u64>,
    /// Per mille of acquisitions that poll instead of watching.
    pub poll_per_mille: u64,
    /// Poll interval, ms.
    pub poll_interval: u64,
    /// Longest leader election, µs.
    pub election_max: u64,
    /// Server faults: `(when, fault)`, µs.
    pub faults: Vec<(u64, ServerFault)>,
}

impl Plan {
    /// Draws a plan for `profile` from `rng`.
    pub fn draw(profile: &Profile, rng: &mut Rng) -> Plan {
        let nodes = rng.pick(&[1u16, 2, 3, 3, 4, 5, 5, 5]);
        let clients = rng.range(2, 5) as u16;
        let ttl = rng.pick(&[60u64, 200, 1_000, 4_000]);
        let drift_ppm = rng.pick(&[10_000u32, 10_000, 1_000, 50_000]);
        let config_drift_ppm = profile.drift_ppm.unwrap_or(drift_ppm);
        let drift = (ttl * u64::from(config_drift_ppm)).div_ceil(1_000_000) + 2;
        let window = ttl - drift;
        let node_timeout = (window / 10).clamp(1, 200);
        let auto_extend = rng.chance(300);
        let hold_max = if auto_extend {
            window * rng.range(1, 3)
        } else {
            window + window / 5
        };
        let latency = rng.range(50, (node_timeout * 1_000 / 8).clamp(50, 2_000));
        let jitter = rng.range(0, latency);
        let fixed_retry = rng.chance(400).then(|| rng.range(ttl / 8, ttl).max(1));
        let max_attempts = if rng.chance(500) {
            None
        } else {
            Some(rng.range(2, 10) as u32)
        };
        let acquire_timeout = if max_attempts.is_none() || rng.chance(500) {
            Some(rng.range(window, 5 * ttl).max(1))
        } else {
            None
        };
        let work_max = rng.range(0, (window * 1_000 / 20).min(2_000));
        let short_pause = (window * 1_000 / 8).clamp(1_000, 50_000);
        let (pauses, pause_max, pause_at_write) = match profile.pauses {
            Pauses::None => (0, 0, 0),
            Pauses::Short => (rng.range(1, 6) as u32, short_pause, rng.range(50, 300)),
            Pauses::Long => (rng.range(0, 3) as u32, window * 3_000, rng.range(100, 400)),
        };
        // A client writes only with this much validity left beyond the write itself.
        let margin_us = match profile.pauses {
            Pauses::Short => short_pause * 21 / 20 + 1_000,
            _ => 1_000,
        };
        let margin = margin_us.div_ceil(1_000) + 1;
        let network = profile.network;
        let heal_at = ttl * 1_000 * rng.range(6, 12) + 200_000;
        let retry_max = fixed_retry.unwrap_or(1_600) + 50;
        let jump_max = if profile.jumps { 2 * ttl } else { 0 };
        let slow = match profile.drift {
            Drift::Beyond => 4,
            _ => 1,
        };
        let liveness_bound = (hold_max * 2
            + ttl * slow
            + 2 * ttl
            + jump_max
            + 2 * retry_max
            + 20 * node_timeout
            + 100)
            * 1_000;
        Plan {
            nodes,
            clients,
            ttl,
            drift_ppm,
            config_drift_ppm,
            window,
            node_timeout,
            auto_extend,
            resources: rng.range(1, 2) as u16,
            multi_per_mille: rng.pick(&[0u64, 200, 500]),
            max_attempts,
            acquire_timeout,
            fixed_retry,
            hold_max,
            writes_max: rng.range(1, 3),
            work_max,
            margin,
            think_max: rng.range(0, 50_000),
            latency,
            jitter,
            loss: if network { rng.range(0, 60) } else { 0 },
            dup: if network { rng.range(0, 30) } else { 0 },
            reorder: if network { rng.range(0, 30) } else { 0 },
            tail: if network { rng.range(0, 50) } else { 0 },
            tail_max: if rng.chance(500) {
                ttl * 2_000
            } else {
                node_timeout * 4_000
            },
            partitions: if network { rng.range(0, 4) as u32 } else { 0 },
            pauses,
            pause_max,
            pause_at_write,
            restarts: match profile.restarts {
                Restarts::None => 0,
                _ => rng.range(1, 3) as u32,
            },
            jumps: if profile.jumps {
                rng.range(1, 3) as u32
            } else {
                0
            },
            leaps: if profile.expiry_chaos {
                rng.range(20, 200) as u32
            } else {
                0
            },
            heal_at,
            liveness_bound,
            end: heal_at + liveness_bound + ttl * 1_000,
            try_lock_per_mille: 0,
            horizon: None,
            etcd: None,
        }
    }

    /// Draws a plan for an etcd `profile` from `rng`: one logical cluster, a lease
    /// TTL in whole seconds (raised to the cluster's minimum), watch or poll mode
    /// per acquisition, and the cluster's own faults.
    pub fn draw_etcd(profile: &Profile, rng: &mut Rng) -> Plan {
        let clients = rng.range(2, 5) as u16;
        let recipe = if profile.proclaims || rng.chance(200) {
            EtcdRecipe::Election
        } else {
            EtcdRecipe::Mutex
        };
        let ttl_secs = rng.pick(&[1u64, 1, 2, 3, 5]);
        let min_ttl_secs = rng.pick(&[1u64, 2]);
        let ttl = ttl_secs.max(min_ttl_secs) * 1_000;
        let drift_ppm = rng.pick(&[10_000u32, 10_000, 1_000, 50_000]);
        let config_drift_ppm = profile.drift_ppm.unwrap_or(drift_ppm);
        let drift = (ttl * u64::from(config_drift_ppm)).div_ceil(1_000_000) + 2;
        let window = ttl - drift;
        // The config is validated against the requested TTL, before the server
        // raises it.
        let requested = ttl_secs * 1_000;
        let requested_window =
            requested - (requested * u64::from(config_drift_ppm)).div_ceil(1_000_000) - 2;
        let request_timeout = rng.chance(500).then(|| {
            rng.range(requested_window / 30, requested_window / 3)
                .max(1)
        });
        let node_timeout = request_timeout.unwrap_or((requested_window / 3).min(2_000));
        let hold_max = window * rng.range(1, 3);
        let latency = rng.range(50, 2_000);
        let jitter = rng.range(0, latency);
        let fixed_retry = rng.chance(300).then(|| rng.range(20, 500));
        let max_attempts = if rng.chance(500) {
            None
        } else {
            Some(rng.range(3, 10) as u32)
        };
        let acquire_timeout = if rng.chance(500) {
            Some(rng.range(window / 2, 5 * ttl).max(1))
        } else {
            None
        };
        let work_max = rng.range(0, (window * 1_000 / 20).min(2_000));
        let short_pause = (window * 1_000 / 8).clamp(1_000, 50_000);
        let (pauses, pause_max, pause_at_write) = match profile.pauses {
            Pauses::None => (0, 0, 0),
            Pauses::Short => (rng.range(1, 6) as u32, short_pause, rng.range(50, 300)),
            Pauses::Long => (rng.range(0, 3) as u32, window * 3_000, rng.range(100, 400)),
        };
        let margin_us = match profile.pauses {
            Pauses::Short => short_pause * 21 / 20 + 1_000,
            _ => 1_000,
        };
        let margin = margin_us.div_ceil(1_000) + 1;
        let network = profile.network;
        let heal_at = ttl * 1_000 * rng.range(4, 8) + 200_000;
        let recheck = rng.chance(500).then(|| rng.range(ttl / 4, 2 * ttl));
        let poll_per_mille = if profile.poll_deadline {
            1_000
        } else {
            rng.pick(&[0u64, 0, 300, 500, 1_000])
        };
        let poll_interval = rng.range(10, ttl / 2);
        let acquire_timeout = if profile.poll_deadline {
            Some(poll_interval * rng.range(12, 40) / 10)
        } else {
            acquire_timeout
        };
        let watch_sync_us = if rng.chance(500) {
            0
        } else {
            rng.range(1_000, 100_000)
        };
        let revoke_lag_us = if rng.chance(500) {
            0
        } else {
            rng.range(0, 500_000)
        };
        let election_max = if profile.leader_changes {
            rng.range(50_000, 2_000_000)
        } else {
            0
        };
        let mut faults = Vec::new();
        if profile.leader_changes {
            for _ in 0..rng.range(1, 4) {
                let at = rng.range(0, heal_at);
                let election_us = rng.range(10_000, election_max);
                faults.push((at, ServerFault::LeaderChange { election_us }));
            }
        }
        if network {
            let every = rng.range(10_000, 300_000);
            let mut at = rng.range(0, every);
            while at < heal_at {
                faults.push((at, ServerFault::Compact));
                at += every;
            }
            for _ in 0..rng.range(0, 3) {
                faults.push((rng.range(0, heal_at), ServerFault::CancelWatches));
            }
        }
        let retry_max = fixed_retry.unwrap_or(1_600) + 50;
        let jump_max = if profile.jumps { 2 * ttl } else { 0 };
        let slow = match profile.drift {
            Drift::Beyond => 4,
            _ => 1,
        };
        let wait_max = recheck.unwrap_or(ttl).max(poll_interval);
        let liveness_bound = (hold_max * 2
            + ttl * slow
            + 3 * ttl
            + jump_max
            + 2 * retry_max
            + 20 * node_timeout
            + wait_max
            + revoke_lag_us / 1_000
            + watch_sync_us / 1_000
            + election_max / 1_000
            + 100)
            * 1_000;
        Plan {
            nodes: 1,
            clients,
            ttl,
            drift_ppm,
            config_drift_ppm,
            window,
            node_timeout,
            auto_extend: true,
            resources: rng.range(1, 2) as u16,
            multi_per_mille: 0,
            max_attempts,
            acquire_timeout,
            fixed_retry,
            hold_max,
            writes_max: rng.range(1, 3),
            work_max,
            margin,
            think_max: rng.range(0, 50_000),
            latency,
            jitter,
            loss: if network { rng.range(0, 60) } else { 0 },
            dup: if network { rng.range(0, 30) } else { 0 },
            reorder: if network { rng.range(0, 30) } else { 0 },
            tail: if network { rng.range(0, 50) } else { 0 },
            tail_max: if rng.chance(500) {
                ttl * 2_000
            } else {
                node_timeout * 4_000
            },
            partitions: if network { rng.range(0, 4) as u32 } else { 0 },
            pauses,
            pause_max,
            pause_at_write,
            restarts: 0,
            jumps: if profile.jumps {
                rng.range(1, 3) as u32
            } else {
                0
            },
            leaps: 0,
            heal_at,
            liveness_bound,
            end: heal_at + liveness_bound + ttl * 1_000,
            horizon: Some(
                heal_at + liveness_bound + ttl * 1_000 + u64::from(clients) * liveness_bound,
            ),
            try_lock_per_mille: match recipe {
                EtcdRecipe::Mutex => rng.pick(&[0u64, 100, 300]),
                EtcdRecipe::Election => 0,
            },
            etcd: Some(EtcdPlan {
                recipe,
                ttl_secs,
                server: EtcdServerSetup {
                    min_ttl_secs,
                    revoke_lag_us,
                    member: rng.range(1, 0x7ffe) as u16,
                    watch_sync_us,
                    bugs: profile.etcd_bugs,
                },
                request_timeout,
                recheck,
                poll_per_mille,
                poll_interval,
                election_max,
                faults,
            }),
        }
    }
}
