//! Helpers shared by the live tests: the servers from the environment, process
//! signals with guards, unique names.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use fencelock_core::backoff::RetryPolicy;
use fencelock_core::redlock::RedlockConfig;
use fencelock_live::{servers_from_env, Servers};

/// Masters are the first five servers; the sixth holds the fenced resource.
pub const MASTERS: usize = 5;

/// The servers `servers.sh start-redis 6 DIR` (or more) started; panics with
/// instructions when the environment does not name them.
pub fn servers() -> Servers {
    match servers_from_env(MASTERS + 1) {
        Ok(servers) => servers,
        Err(message) => panic!("live tests need running servers: {message}"),
    }
}

/// Ports of the five lock masters.
pub fn master_ports(servers: &Servers) -> Vec<u16> {
    servers.ports[..MASTERS].to_vec()
}

/// Port of the Redis that holds the fenced resource (and the script checks).
pub fn resource_port(servers: &Servers) -> u16 {
    servers.ports[MASTERS]
}

/// A name no earlier run used on these servers (they live across test runs).
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        fencelock_live::random_seed() % 1_000_000
    )
}

/// A five-master config: `ttl` ms, fixed short retries (so contending workers
/// retry quickly, with jitter), no attempt limit (the acquire timeout bounds it).
pub fn config(ttl: u64) -> RedlockConfig {
    let mut config = RedlockConfig::new(MASTERS as u32, ttl);
    config.retry = RetryPolicy::fixed(20, 15).with_max_attempts(None);
    config
}

/// Sends `signal` (e.g. `"STOP"`) to `pid`; returns whether it was delivered.
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// SIGSTOPs processes and SIGCONTs them when dropped, also when a test fails.
pub struct Stopped {
    pids: Vec<u32>,
}

impl Stopped {
    /// Stops every pid in `pids`.
    pub fn new(pids: &[u32]) -> Stopped {
        for pid in pids {
            signal(*pid, "STOP");
        }
        Stopped {
            pids: pids.to_vec(),
        }
    }

    /// Continues them now.
    pub fn resume(self) {}
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for pid in &self.pids {
            signal(*pid, "CONT");
        }
    }
}
