//! Helpers shared by the etcd live tests: the servers from the environment,
//! configs, raw gateway calls through the core's codec, and checks on a log of
//! holds.
#![allow(dead_code)]

use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fencelock_core::backoff::RetryPolicy;
use fencelock_core::etcd::{
    Command, EtcdConfig, KeyValue, LeaseId, RangeRequest, Reply, SortOrder, WaitMode,
};
use fencelock_core::wire::etcd_gateway::{decode, encode};
use fencelock_core::RequestId;
use fencelock_live::etcd::{etcd_from_env, Endpoints, EtcdHost, EtcdServers};

#[path = "../shared/mod.rs"]
pub mod shared;
#[allow(unused_imports)] // not every test uses it
pub use shared::signal;

/// The single member `servers.sh start-etcd DIR` started.
pub fn single() -> EtcdServers {
    etcd_from_env("FENCELOCK_ETCD")
        .unwrap_or_else(|m| panic!("etcd live tests need a running etcd: {m}"))
}

/// The cluster `servers.sh start-etcd-cluster 3 DIR` started.
pub fn cluster() -> EtcdServers {
    etcd_from_env("FENCELOCK_ETCD_CLUSTER")
        .unwrap_or_else(|m| panic!("etcd cluster tests need a running cluster: {m}"))
}

/// A host on `servers`' endpoints.
pub fn host(servers: &EtcdServers) -> EtcdHost {
    EtcdHost::new(Endpoints::new(servers.endpoints.clone()))
}

/// A host sharing `endpoints` (and their failover state).
pub fn host_on(endpoints: &Arc<Endpoints>) -> EtcdHost {
    EtcdHost::new(endpoints.clone())
}

/// A name no earlier run used on these servers, under `fencelock-live/`.
pub fn unique(prefix: &str) -> String {
    shared::unique(&format!("fencelock-live/{prefix}"))
}

/// `ttl_secs` lease, 1 s request timeout, quick fixed retries without an attempt
/// limit (deadlines bound the tests), a random jitter seed.
pub fn config(ttl_secs: u64) -> EtcdConfig {
    let mut config = EtcdConfig::new(ttl_secs);
    config.request_timeout = Some(1_000.min((ttl_secs * 1000 - 100) / 3));
    config.retry = RetryPolicy::fixed(50, 20).with_max_attempts(None);
    config.rng_seed = fencelock_live::random_seed();
    config
}

/// The same config in poll mode.
pub fn poll_config(ttl_secs: u64, interval: u64) -> EtcdConfig {
    let mut config = config(ttl_secs);
    config.wait = WaitMode::Poll { interval };
    config
}

fn call(host: &EtcdHost, command: &Command) -> Reply {
    let request = encode(command).expect("a request");
    let (_, body) = host
        .post(request.path, &request.body)
        .expect("etcd reachable");
    decode(command, body.as_bytes()).expect("a valid gateway body")
}

/// Every key under `name/`, oldest first.
pub fn keys(host: &EtcdHost, name: &str) -> Vec<KeyValue> {
    let command = Command::Range {
        req: RequestId(1),
        range: RangeRequest::under(name).by_create_revision(SortOrder::Ascend),
    };
    match call(host, &command) {
        Reply::Range { kvs, .. } => kvs,
        other => panic!("range: {other:?}"),
    }
}

/// Waits until `name/` holds `count` keys (at most `within`).
pub fn wait_for_keys(host: &EtcdHost, name: &str, count: usize, within: Duration) -> Vec<KeyValue> {
    let until = Instant::now() + within;
    loop {
        let found = keys(host, name);
        if found.len() >= count || Instant::now() >= until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Revokes `lease` behind the holder's back.
pub fn revoke(host: &EtcdHost, lease: LeaseId) -> Reply {
    call(
        host,
        &Command::LeaseRevoke {
            req: RequestId(1),
            lease,
        },
    )
}

/// Grants a lease of `ttl` seconds.
pub fn grant(host: &EtcdHost, ttl: u64) -> LeaseId {
    match call(
        host,
        &Command::LeaseGrant {
            req: RequestId(1),
            ttl,
        },
    ) {
        Reply::LeaseGranted { lease, .. } => lease,
        other => panic!("grant: {other:?}"),
    }
}

/// Standard base64, as the gateway wants bytes.
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Decodes standard base64 into a string.
pub fn unb64(text: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

/// `etcdctl` (API v3) against `endpoints`.
pub fn etcdctl(endpoints: &[String]) -> Process {
    let mut command = Process::new("etcdctl");
    command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")));
    command
}

/// One hold in a shared log: who, which token, from when to when (host clock).
#[derive(Clone, Debug)]
pub struct Hold {
    /// Worker number.
    pub worker: usize,
    /// Fencing token.
    pub token: u64,
    /// When the lock was acquired.
    pub from: Instant,
    /// When the holder started releasing (or its validity ended).
    pub to: Instant,
}

/// Checks a log of holds: in acquisition order, tokens strictly increase and no
/// hold starts before the previous one ended. Returns the number of holds.
pub fn check_holds(holds: &mut [Hold]) -> usize {
    holds.sort_by_key(|h| h.from);
    for pair in holds.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            b.token > a.token,
            "tokens must strictly increase: {a:?} then {b:?}"
        );
        assert!(b.from >= a.to, "two holders at once: {a:?} overlaps {b:?}");
    }
    holds.len()
}

/// The `p`-th percentile (0..=100) of `samples` (sorted here), in ms.
pub fn percentile(samples: &mut [f64], p: usize) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let index = ((samples.len() - 1) * p).div_ceil(100);
    samples[index.min(samples.len() - 1)]
}
