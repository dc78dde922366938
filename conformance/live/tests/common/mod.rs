//! Helpers shared by the live tests: the servers from the environment, process
//! signals with guards, unique names.
#![allow(dead_code)]

use fencelock_core::backoff::RetryPolicy;
use fencelock_core::redlock::RedlockConfig;
use fencelock_live::{servers_from_env, Servers};

#[path = "../shared/mod.rs"]
mod shared;
#[allow(unused_imports)] // not every test uses both
pub use shared::{signal, unique};

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

/// A five-master config: `ttl` ms, fixed short retries (so contending workers
/// retry quickly, with jitter), no attempt limit (the acquire timeout bounds it).
pub fn config(ttl: u64) -> RedlockConfig {
    let mut config = RedlockConfig::new(MASTERS as u32, ttl);
    config.retry = RetryPolicy::fixed(20, 15).with_max_attempts(None);
    config
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
