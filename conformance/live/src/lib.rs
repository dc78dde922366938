//! fencelock-live: a small, real host for `fencelock-core`.
//!
//! It drives the core's sans-IO [`Redlock`](fencelock_core::redlock::Redlock)
//! machine against real `redis-server` processes using only `std::net`, threads,
//! `std::sync::mpsc` and the core's own RESP2 codec
//! ([`fencelock_core::wire::resp`]). The live conformance tests and the `demo`
//! binary are built on it; it is also the reference for what a binding's drive
//! loop has to do.
//!
//! - [`Client`]: one connection per master, commands pipelined in emission order,
//!   one reader thread per connection, and the drive loop (`handle_input`, drain
//!   `poll_output`, wait for a reply or `poll_timeout`).
//! - [`FencedResource`]: a resource in its own Redis that admits writes through
//!   [`fencelock_core::fence::REDIS_FENCED_SET`].
//! - [`BlockingConn`]: a plain request/reply RESP connection (for the resource and
//!   for script-level checks).
//! - [`clock`]: the host's monotonic clock in [`Millis`](fencelock_core::Millis).
//! - [`servers_from_env`]: the ports and PIDs `servers.sh start-redis` wrote.
//! - [`etcd`]: [`etcd::EtcdHost`] drives the etcd mutex, election and observer
//!   against real etcd through its JSON gateway (the core's codec and a blocking
//!   HTTP client), with endpoint failover for a cluster.
//! - [`zookeeper`]: [`zookeeper::ZkHost`] drives the ZooKeeper lock and election
//!   against real ZooKeeper (the `zookeeper-client` crate, one session per host).
//! - [`advisory`]: [`advisory::PgHost`] drives the PostgreSQL advisory lock over one
//!   pinned session (the `postgres` crate, one connection and thread per host).
#![forbid(unsafe_code)]

pub mod advisory;
mod client;
mod conn;
pub mod etcd;
mod fenced;
mod host;
pub mod zookeeper;

pub use client::{AcquireError, Client, ExtendOutcome, Held, HostError, HostStats};
pub use conn::BlockingConn;
pub use fenced::{FencedResource, FencedWrite};
pub use host::{AttemptSummary, MachineAcquireError, MachineHostError};

/// The host's clock: milliseconds since a process-wide [`Instant`](std::time::Instant) epoch.
pub mod clock {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use fencelock_core::Millis;

    static EPOCH: OnceLock<Instant> = OnceLock::new();

    fn epoch() -> Instant {
        *EPOCH.get_or_init(Instant::now)
    }

    /// Milliseconds since the process-wide epoch (monotonic, never goes backwards).
    #[must_use]
    pub fn now() -> Millis {
        millis_at(Instant::now())
    }

    /// `instant` as [`Millis`] since the epoch (zero for instants before it).
    #[must_use]
    pub fn millis_at(instant: Instant) -> Millis {
        let ms = instant.saturating_duration_since(epoch()).as_millis();
        Millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// The [`Instant`] at which [`now`] first reaches `at`.
    #[must_use]
    pub fn instant_of(at: Millis) -> Instant {
        epoch() + Duration::from_millis(at.0)
    }
}

/// Redis servers started by `servers.sh start-redis`, read from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Servers {
    /// `FENCELOCK_REDIS_PORTS`, in order.
    pub ports: Vec<u16>,
    /// `FENCELOCK_REDIS_PIDS`, in the same order.
    pub pids: Vec<u32>,
}

/// Reads `FENCELOCK_REDIS_PORTS` and `FENCELOCK_REDIS_PIDS` (comma-separated, as
/// written to `DIR/env` by `servers.sh start-redis`) and checks that at least
/// `min` servers are listed.
pub fn servers_from_env(min: usize) -> Result<Servers, String> {
    fn list<T: std::str::FromStr>(name: &str) -> Result<Vec<T>, String> {
        let raw = std::env::var(name).map_err(|_| {
            format!(
                "{name} is not set: start servers with `conformance/live/servers.sh start-redis N DIR` \
                 and export DIR/env (set -a; . DIR/env; set +a)"
            )
        })?;
        raw.split(',')
            .map(|item| {
                item.trim()
                    .parse()
                    .map_err(|_| format!("{name}: {item:?} is not a number"))
            })
            .collect()
    }
    let ports = list::<u16>("FENCELOCK_REDIS_PORTS")?;
    let pids = list::<u32>("FENCELOCK_REDIS_PIDS")?;
    if ports.len() != pids.len() {
        return Err(format!(
            "FENCELOCK_REDIS_PORTS lists {} servers but FENCELOCK_REDIS_PIDS lists {}",
            ports.len(),
            pids.len()
        ));
    }
    if ports.len() < min {
        return Err(format!(
            "{} redis servers in FENCELOCK_REDIS_PORTS, at least {min} needed",
            ports.len()
        ));
    }
    Ok(Servers { ports, pids })
}

/// Reads `{prefix}_ENDPOINTS` and `{prefix}_PIDS` (comma-separated, as written to
/// `DIR/env` by `servers.sh`): the endpoints and the PIDs, the same number of each
/// and at least one. `hint` follows "NAME is not set: " when a variable is missing.
pub fn endpoints_from_env(prefix: &str, hint: &str) -> Result<(Vec<String>, Vec<u32>), String> {
    let read = |suffix: &str| {
        let name = format!("{prefix}_{suffix}");
        std::env::var(&name).map_err(|_| format!("{name} is not set: {hint}"))
    };
    let endpoints: Vec<String> = read("ENDPOINTS")?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let pids = read("PIDS")?
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("{prefix}_PIDS: {s:?} is not a number"))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    if endpoints.len() != pids.len() || endpoints.is_empty() {
        return Err(format!(
            "{prefix}: {} endpoints but {} pids",
            endpoints.len(),
            pids.len()
        ));
    }
    Ok((endpoints, pids))
}

/// A fresh lock value: 16 bytes from the OS CSPRNG, formatted by
/// [`fencelock_core::lock_value_from_random`].
///
/// # Panics
/// If the OS has no random source (never on the platforms this host runs on).
#[must_use]
pub fn random_lock_value() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    fencelock_core::lock_value_from_random(bytes)
}

/// A random 64-bit seed for the machine's jitter PRNG.
///
/// # Panics
/// If the OS has no random source.
#[must_use]
pub fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    u64::from_le_bytes(bytes)
}
