//! Helpers the live test support modules (`common`, `etcd_support`, `zkpg_support`)
//! share; each includes this file with `#[path]` (it is not a test of its own).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// Sends `signal` (e.g. `"STOP"`, `"KILL"`; no leading dash) to `pid`; returns
/// whether it was delivered.
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
