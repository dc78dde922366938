//! Helpers shared by the ZooKeeper and PostgreSQL live tests: servers from the
//! environment, configs, unique names, and an in-process fenced counter.
#![allow(dead_code)]

use std::sync::atomic::Ordering;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use fencelock_core::advisory::AdvisoryConfig;
use fencelock_core::backoff::RetryPolicy;
use fencelock_core::zookeeper::ZooKeeperConfig;
use fencelock_core::{Admission, FenceGuard, FencingToken};
use fencelock_live::advisory::{postgres_from_env, PgServer};
use fencelock_live::zookeeper::{zookeeper_from_env, ZkHost, ZkServers};

// Every test that includes this module includes `etcd_support` too (which
// includes `shared` once per test crate).
#[allow(unused_imports)] // not every test uses both
pub use super::etcd_support::shared::{signal, unique};

/// The standalone server `servers.sh start-zookeeper DIR` started.
pub fn zk_single() -> ZkServers {
    zookeeper_from_env("FENCELOCK_ZK")
        .unwrap_or_else(|m| panic!("ZooKeeper live tests need a running server: {m}"))
}

/// The ensemble `servers.sh start-zookeeper-ensemble 3 DIR` started.
pub fn zk_ensemble() -> ZkServers {
    zookeeper_from_env("FENCELOCK_ZK_ENSEMBLE")
        .unwrap_or_else(|m| panic!("ZooKeeper ensemble tests need a running ensemble: {m}"))
}

/// The server `servers.sh start-postgres DIR` started.
pub fn pg() -> PgServer {
    postgres_from_env().unwrap_or_else(|m| panic!("PostgreSQL live tests need a server: {m}"))
}

/// A new session on `servers`, asking for `session_timeout`.
pub fn zk_host(servers: &ZkServers, session_timeout: Duration) -> ZkHost {
    ZkHost::connect(&servers.connect_string(), session_timeout).expect("ZooKeeper reachable")
}

/// A lock path under `/fencelock-live`, unique to this run.
pub fn zk_path(prefix: &str) -> String {
    format!("/fencelock-live/{}", unique(prefix))
}

/// Quick fixed retries without an attempt limit (deadlines bound the tests), a
/// 1 s request timeout, a random jitter seed.
pub fn zk_config() -> ZooKeeperConfig {
    let mut config = ZooKeeperConfig::new();
    config.request_timeout = Some(1_000);
    config.retry = RetryPolicy::fixed(50, 20).with_max_attempts(None);
    config.rng_seed = fencelock_live::random_seed();
    config
}

/// Busy retries every 2 to 10 ms without an attempt limit (deadlines bound the
/// tests), checks every `check_interval` ms.
pub fn pg_config(check_interval: u64) -> AdvisoryConfig {
    let mut config = AdvisoryConfig::new();
    config.request_timeout = Some(5_000);
    config.check_interval = Some(check_interval);
    config.retry = RetryPolicy::fixed(6, 4).with_max_attempts(None);
    config.rng_seed = fencelock_live::random_seed();
    config
}

/// A resource that only admits writes with a token at least as high as the
/// highest it has seen, holding a counter: holders read it, wait, and write it
/// back plus one. Two holders at once lose an update (or see a stale token
/// rejected), so `value == acquisitions` and `rejected == 0` prove exclusion.
#[derive(Debug, Default)]
pub struct FencedCounter {
    state: StdMutex<(FenceGuard, u64, u64)>,
}

impl FencedCounter {
    /// The current value.
    pub fn read(&self) -> u64 {
        self.state.lock().unwrap().1
    }

    /// Writes `value` with `token`; whether the write was admitted.
    pub fn write(&self, token: FencingToken, value: u64) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.0.admit(token) == Admission::Accepted {
            state.1 = value;
            true
        } else {
            state.2 += 1;
            false
        }
    }

    /// Writes refused as stale.
    pub fn rejected(&self) -> u64 {
        self.state.lock().unwrap().2
    }
}

/// A TCP proxy to one server that can cut its clients off (a network partition):
/// while blocked, open connections are shut down and new ones closed at once.
#[derive(Debug)]
pub struct Proxy {
    /// `127.0.0.1:port` to connect to instead of the server.
    pub addr: String,
    blocked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<StdMutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    /// Starts forwarding to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap().to_string();
        let blocked = Arc::new(AtomicBool::new(false));
        let open = Arc::new(StdMutex::new(Vec::<TcpStream>::new()));
        let (target, flag, streams) = (target.to_string(), blocked.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::Relaxed) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    streams.lock().unwrap().extend([c, s]);
                    pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                    pipe(server, client);
                }
            }
        });
        Proxy {
            addr,
            blocked,
            open,
        }
    }

    /// Cuts every client off until [`Proxy::heal`].
    pub fn partition(&self) {
        self.blocked.store(true, Ordering::Relaxed);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Lets clients connect again.
    pub fn heal(&self) {
        self.blocked.store(false, Ordering::Relaxed);
    }
}
