//! The ZooKeeper lock against a real 3-server ensemble on loopback
//! (`servers.sh start-zookeeper-ensemble 3 DIR`), whose leader is SIGKILLed while
//! the lock is held and contended: a new leader is elected, sessions survive,
//! holders never overlap, tokens keep increasing, every write to the fenced
//! counter is admitted and none is lost.
//!
//! The killed server stays dead for the rest of that ensemble's life: this is the
//! only test that uses the ensemble.

mod etcd_support;
mod zkpg_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use etcd_support::{check_holds, Hold};
use fencelock_core::zookeeper::ReleaseOutcome;
use fencelock_live::clock;
use fencelock_live::zookeeper::{server_mode, ZkAcquireError};
use zkpg_support::{signal, zk_config, zk_ensemble, zk_host, zk_path, FencedCounter};

const WORKERS: usize = 10;
const BEFORE_KILL: usize = 30;
const TOTAL: usize = 120;

#[test]
#[ignore = "needs a live 3-server ZooKeeper ensemble (servers.sh start-zookeeper-ensemble 3)"]
fn leader_killed_while_the_lock_is_held_and_contended() {
    let servers = zk_ensemble();
    assert_eq!(servers.endpoints.len(), 3, "a 3-server ensemble");
    let path = zk_path("ensemble");
    let counter = Arc::new(FencedCounter::default());
    let log = Arc::new(StdMutex::new(Vec::<Hold>::new()));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let holding = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(120);

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (servers, path, counter, log, acquisitions, retries, holding, stop) = (
                servers.clone(),
                path.clone(),
                counter.clone(),
                log.clone(),
                acquisitions.clone(),
                retries.clone(),
                holding.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                // Each worker's session lives through the leader election.
                let mut host = zk_host(&servers, Duration::from_secs(10));
                let config = zk_config();
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let args = host.lock_args(&path).with_timeout(60_000);
                    let mut held = match host.lock(&config, args) {
                        Ok(held) => held,
                        // Lost while queued (validity ran out during the election):
                        // a new attempt, a new node.
                        Err(ZkAcquireError::Lost(_)) => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => panic!("worker {worker}: {e}"),
                    };
                    holding.fetch_add(1, Ordering::Relaxed);
                    let from = Instant::now();
                    let lock = held.lock().unwrap().clone();
                    let value = counter.read();
                    // Work while holding; keep the machine driven (checks, loss).
                    let lost = host.hold_for(&mut held, Duration::from_millis(20)).unwrap();
                    let still = lost.is_none() && held.machine.remaining(clock::now()) > 0;
                    if still {
                        assert!(
                            counter.write(lock.token, value + 1),
                            "worker {worker}: stale token"
                        );
                    }
                    let to = Instant::now();
                    holding.fetch_sub(1, Ordering::Relaxed);
                    let outcome = host.release(held).expect("release");
                    if still {
                        assert_eq!(outcome, ReleaseOutcome::Released, "worker {worker}");
                        log.lock().unwrap().push(Hold {
                            worker,
                            token: lock.token.0,
                            from,
                            to,
                        });
                        if acquisitions.fetch_add(1, Ordering::Relaxed) + 1 >= TOTAL {
                            stop.store(true, Ordering::Relaxed);
                        }
                    } else {
                        retries.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Kill the leader while the lock is held and contended.
    while (acquisitions.load(Ordering::Relaxed) < BEFORE_KILL
        || holding.load(Ordering::Relaxed) == 0)
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(1));
    }
    let leader = servers
        .endpoints
        .iter()
        .position(|e| server_mode(e).as_deref() == Some("leader"))
        .expect("the ensemble has a leader");
    let killed_at = acquisitions.load(Ordering::Relaxed);
    let kill_instant = Instant::now();
    assert!(signal(servers.pids[leader], "KILL"), "SIGKILL the leader");
    println!(
        "killed the leader (server {} of 3, {}) after {killed_at} acquisitions, with the lock held",
        leader + 1,
        servers.endpoints[leader]
    );
    let mut new_leader = None;
    let until = Instant::now() + Duration::from_secs(30);
    while new_leader.is_none() && Instant::now() < until {
        new_leader = servers
            .endpoints
            .iter()
            .enumerate()
            .find(|(i, e)| *i != leader && server_mode(e).as_deref() == Some("leader"))
            .map(|(i, _)| i);
        thread::sleep(Duration::from_millis(20));
    }
    let elected_after = kill_instant.elapsed();
    for worker in workers {
        worker.join().expect("worker");
    }
    let mut holds = log.lock().unwrap().clone();
    let total = check_holds(&mut holds);
    assert!(total >= TOTAL, "only {total} acquisitions");
    assert_eq!(counter.read() as usize, total, "no lost update");
    assert_eq!(counter.rejected(), 0, "no stale write");
    let after_kill = holds.iter().filter(|h| h.from > kill_instant).count();
    assert!(
        after_kill >= TOTAL - BEFORE_KILL - WORKERS,
        "only {after_kill} after the kill"
    );
    let new_leader = new_leader.expect("a new leader");
    println!(
        "new leader: server {} after {:.1} s; {total} acquisitions ({after_kill} after the kill), \
         {} attempts given up while the ensemble had no leader, tokens strictly increasing, \
         no overlap, counter {} == {total}",
        new_leader + 1,
        elected_after.as_secs_f64(),
        retries.load(Ordering::Relaxed),
        counter.read()
    );
}
