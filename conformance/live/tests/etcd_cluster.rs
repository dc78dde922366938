//! The etcd mutex against a real 3-member etcd cluster on loopback, whose leader
//! is SIGKILLed while the lock is held and contended: tokens keep increasing, no
//! two holders overlap, every write through the fenced resource is admitted, and
//! a lock whose holder crashed is re-acquired once its lease ends.
//!
//! The killed member stays dead for the rest of that cluster's life: this is the
//! only test that uses the cluster.

mod etcd_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use etcd_support::{check_holds, cluster, config, host_on, unique, Hold};
use fencelock_core::etcd::{MutexArgs, ReleaseOutcome};
use fencelock_core::{Admission, FenceGuard};
use fencelock_live::clock;
use fencelock_live::etcd::{Endpoints, EtcdHost};

const TTL: u64 = 3;
const WORKERS: usize = 3;
/// Acquisitions before the leader is killed, and in total.
const BEFORE_KILL: usize = 6;
const TOTAL: usize = 24;

/// The index of the endpoint whose member leads the cluster (asking each member
/// for its status over the gateway).
fn leader_index(endpoints: &[String]) -> Option<usize> {
    let mut leader = None;
    let mut ids = Vec::new();
    for endpoint in endpoints {
        let member: EtcdHost = host_on(&Endpoints::new(vec![endpoint.clone()]));
        let Ok((_, body)) = member.post("/v3/maintenance/status", "{}") else {
            ids.push(None);
            continue;
        };
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        leader = leader.or_else(|| status["leader"].as_str().map(String::from));
        ids.push(status["header"]["member_id"].as_str().map(String::from));
    }
    let leader = leader?;
    ids.iter()
        .position(|id| id.as_deref() == Some(leader.as_str()))
}

#[test]
#[ignore = "needs a live 3-member etcd cluster (servers.sh start-etcd-cluster 3)"]
fn leader_killed_while_the_lock_is_held_and_contended() {
    let servers = cluster();
    assert_eq!(servers.endpoints.len(), 3, "a 3-member cluster");
    let endpoints = Endpoints::new(servers.endpoints.clone());
    let name = unique("cluster");
    let log = Arc::new(StdMutex::new(Vec::<Hold>::new()));
    let guard = Arc::new(StdMutex::new(FenceGuard::new()));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(60);

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (endpoints, name, log, guard, acquisitions, stop) = (
                endpoints.clone(),
                name.clone(),
                log.clone(),
                guard.clone(),
                acquisitions.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                let mut host = host_on(&endpoints);
                let config = config(TTL);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let args = MutexArgs::new(clock::now(), &name).with_timeout(20_000);
                    let held = match host.lock(&config, args) {
                        Ok(held) => held,
                        Err(e) => panic!("worker {worker}: {e}"),
                    };
                    let from = Instant::now();
                    let lock = held.lock().unwrap().clone();
                    let admitted = guard.lock().unwrap().admit(lock.token);
                    assert_eq!(
                        admitted,
                        Admission::Accepted,
                        "stale token {:?}",
                        lock.token
                    );
                    thread::sleep(Duration::from_millis(30));
                    let to = Instant::now();
                    assert!(
                        clock::now() < lock.valid_until,
                        "worker {worker} held past its validity"
                    );
                    let outcome = host.release(held).expect("release");
                    assert_ne!(outcome, ReleaseOutcome::Unreachable, "worker {worker}");
                    log.lock().unwrap().push(Hold {
                        worker,
                        token: lock.token.0,
                        from,
                        to,
                    });
                    if acquisitions.fetch_add(1, Ordering::Relaxed) + 1 >= TOTAL {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Kill the leader while the lock is held and contended.
    while acquisitions.load(Ordering::Relaxed) < BEFORE_KILL && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let leader = leader_index(&servers.endpoints).expect("the cluster has a leader");
    let killed_at = acquisitions.load(Ordering::Relaxed);
    let kill_instant = Instant::now();
    assert!(sigkill(servers.pids[leader]), "SIGKILL the leader");
    println!(
        "killed the leader (member {} of 3, {}) after {killed_at} acquisitions",
        leader + 1,
        servers.endpoints[leader]
    );
    for worker in workers {
        worker.join().expect("worker");
    }
    let mut holds = log.lock().unwrap().clone();
    let total = check_holds(&mut holds);
    assert!(total >= TOTAL, "only {total} acquisitions");
    let after_kill = holds.iter().filter(|h| h.from > kill_instant).count();
    assert!(
        after_kill >= TOTAL - BEFORE_KILL - WORKERS,
        "only {after_kill} acquisitions after the kill"
    );
    let new_leader = leader_index(&servers.endpoints);
    assert!(new_leader.is_some_and(|i| i != leader), "a new leader");
    println!(
        "{total} acquisitions ({after_kill} after the kill), tokens strictly increasing, \
         no overlap; {} endpoint failovers",
        endpoints.failovers()
    );

    // A holder crashes (stops driving: no keep-alive, no release): the lock is
    // re-acquired once its lease ends, never before its validity ended.
    let mut crashed_host = host_on(&endpoints);
    let crashed = crashed_host
        .lock(&config(TTL), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let crashed_lock = crashed.lock().unwrap().clone();
    let mut waiter_host = host_on(&endpoints);
    let started = Instant::now();
    let waiter = waiter_host
        .lock(
            &config(TTL),
            MutexArgs::new(clock::now(), &name).with_timeout(30_000),
        )
        .expect("re-acquired after the crashed holder's lease ended");
    let waiter_lock = waiter.lock().unwrap().clone();
    assert!(waiter_lock.token > crashed_lock.token);
    assert!(
        waiter_lock.acquired_at >= crashed_lock.valid_until,
        "acquired at {} before the crashed holder's validity ended at {}",
        waiter_lock.acquired_at,
        crashed_lock.valid_until
    );
    println!(
        "crashed holder's lock re-acquired after {:.1} s (TTL {TTL} s)",
        started.elapsed().as_secs_f64()
    );
    waiter_host.release(waiter).unwrap();
    drop(crashed);
}

fn sigkill(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
