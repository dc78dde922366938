//! The ZooKeeper lock and election against one real ZooKeeper 3.8 server on
//! loopback (`servers.sh start-zookeeper DIR`): node layout and czxid token,
//! try-lock cleanup, 20 concurrent clients on a fenced counter, a holder cut off
//! by a partition until its session expires, a parent deleted and recreated (the sequence restarts, the
//! token does not), an election, latency against the bare recipe, bad input.

mod etcd_support;
mod zkpg_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use etcd_support::{check_holds, percentile, Hold};
use fencelock_core::zookeeper::{
    AcquireFailure, LockArgs, LostReason, ReleaseOutcome, SessionId, ZooKeeperConfig,
};
use fencelock_live::clock;
use fencelock_live::zookeeper::{ZkAcquireError, ZkHost};
use zkpg_support::{unique, zk_config, zk_host, zk_path, zk_single, FencedCounter, Proxy};
use zookeeper_client as zk;

const SESSION: Duration = Duration::from_secs(10);

fn children(host: &ZkHost, path: &str) -> Vec<String> {
    let mut names = host
        .block_on(host.client().list_children(path))
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn node_layout_token_and_try_lock_cleanup() {
    let servers = zk_single();
    let config = zk_config();
    let mut host = zk_host(&servers, SESSION);
    let path = zk_path("layout");
    let args = host.lock_args(&path);
    let guid = args.guid.clone();
    let held = host.lock(&config, args).expect("lock");
    let lock = held.lock().unwrap().clone();
    let name = lock
        .path
        .strip_prefix(&format!("{path}/"))
        .expect("under the path");
    assert!(name.starts_with(&format!("{guid}-lock-")), "{name}");
    assert_eq!(name.len(), guid.len() + "-lock-".len() + 10);
    let stat = host
        .block_on(host.client().check_stat(&lock.path))
        .unwrap()
        .expect("our node exists");
    assert_eq!(stat.czxid as u64, lock.token.0, "token = czxid");
    assert_eq!(stat.ephemeral_owner as u64, host.session().0);
    assert_eq!(lock.session, host.session());
    println!("held {} token {} (czxid)", lock.path, lock.token.0);

    // A try-lock from another session fails with locked and leaves no node.
    let mut other = zk_host(&servers, SESSION);
    let err = other
        .lock(&config, other.lock_args(&path).try_lock())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ZkAcquireError::Failed {
                reason: AcquireFailure::Locked,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(children(&host, &path), vec![name.to_string()]);

    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    assert!(children(&host, &path).is_empty(), "our node is deleted");
    // Free now: the try-lock succeeds with a higher token.
    let again = other
        .lock(&config, other.lock_args(&path).try_lock())
        .expect("free");
    assert!(again.lock().unwrap().token > lock.token);
    other.release(again).unwrap();
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn twenty_clients_fenced_counter() {
    const CLIENTS: usize = 20;
    const ROUNDS: usize = 5;
    let servers = zk_single();
    let path = zk_path("twenty");
    let counter = Arc::new(FencedCounter::default());
    let log = Arc::new(StdMutex::new(Vec::<Hold>::new()));
    let queued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (servers, path, counter, log, queued) = (
                servers.clone(),
                path.clone(),
                counter.clone(),
                log.clone(),
                queued.clone(),
            );
            thread::spawn(move || {
                let mut host = zk_host(&servers, SESSION);
                let config = zk_config();
                for _ in 0..ROUNDS {
                    let args = host.lock_args(&path).with_timeout(120_000);
                    let held = host
                        .lock(&config, args)
                        .unwrap_or_else(|e| panic!("worker {worker}: {e}"));
                    if held.machine.stats().queued {
                        queued.fetch_add(1, Ordering::Relaxed);
                    }
                    let from = Instant::now();
                    let lock = held.lock().unwrap().clone();
                    let value = counter.read();
                    thread::sleep(Duration::from_millis(1));
                    assert!(
                        held.machine.remaining(clock::now()) > 0,
                        "worker {worker}: validity"
                    );
                    assert!(
                        counter.write(lock.token, value + 1),
                        "worker {worker}: stale token"
                    );
                    let to = Instant::now();
                    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
                    log.lock().unwrap().push(Hold {
                        worker,
                        token: lock.token.0,
                        from,
                        to,
                    });
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let mut holds = log.lock().unwrap().clone();
    let total = check_holds(&mut holds);
    assert_eq!(total, CLIENTS * ROUNDS);
    assert_eq!(counter.read() as usize, total, "no lost update");
    assert_eq!(counter.rejected(), 0);
    println!(
        "{CLIENTS} clients x {ROUNDS}: {total} acquisitions in {:.1} s ({} queued behind another), \
         tokens strictly increasing, no overlap, counter {} == {total}",
        started.elapsed().as_secs_f64(),
        queued.load(Ordering::Relaxed),
        counter.read()
    );
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn partitioned_holder_is_lost_before_the_next_holder_and_its_session_expires() {
    let servers = zk_single();
    let config = zk_config();
    let path = zk_path("partition");
    // The holder reaches ZooKeeper through a proxy that can cut it off.
    let proxy = Proxy::start(&servers.endpoints[0]);
    let mut holder = ZkHost::connect(&proxy.addr, Duration::from_secs(4)).expect("connect");
    let mut held = holder.lock(&config, holder.lock_args(&path)).expect("lock");
    let lock = held.lock().unwrap().clone();

    let waiter = {
        let (servers, path, config) = (servers.clone(), path.clone(), config.clone());
        thread::spawn(move || {
            let mut host = zk_host(&servers, SESSION);
            let held = host
                .lock(&config, host.lock_args(&path).with_timeout(30_000))
                .expect("the waiter gets the lock once the holder's session expired");
            let lock = held.lock().unwrap().clone();
            host.release(held).unwrap();
            lock
        })
    };
    let observer = zk_host(&servers, SESSION);
    let until = Instant::now() + Duration::from_secs(10);
    while children(&observer, &path).len() < 2 && Instant::now() < until {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(children(&observer, &path).len(), 2, "the waiter is queued");

    // A partition longer than the session timeout: the holder must give the lock
    // up (at the end of its validity) before ZooKeeper expires its session and
    // the waiter gets it.
    proxy.partition();
    let cut = clock::now();
    let lost = holder.hold_for(&mut held, Duration::from_secs(15)).unwrap();
    assert_eq!(
        lost,
        Some(LostReason::Expired),
        "lost at the end of validity"
    );
    let lost_at = clock::now();
    let next = waiter.join().expect("waiter");
    assert!(
        next.token > lock.token,
        "token {:?} after {:?}",
        next.token,
        lock.token
    );
    assert!(
        lost_at <= next.acquired_at,
        "the holder saw lost at {lost_at} only after the next holder acquired at {}",
        next.acquired_at
    );
    println!(
        "partitioned holder: lost{{expired}} {} ms after the cut (session timeout {} ms), the \
         waiter acquired {} ms after the cut with token {} > {}",
        lost_at.since(cut),
        holder.session_timeout(),
        next.acquired_at.since(cut),
        next.token.0,
        lock.token.0
    );
    // Healed: the client learns that its session expired; release deletes nothing.
    proxy.heal();
    assert_eq!(
        holder.release(held).unwrap(),
        ReleaseOutcome::AlreadyExpired
    );
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn parent_recreated_restarts_the_sequence_not_the_token() {
    let servers = zk_single();
    let config = zk_config();
    let mut host = zk_host(&servers, SESSION);
    let path = zk_path("recreated");
    let mut last = None;
    for _ in 0..2 {
        let held = host.lock(&config, host.lock_args(&path)).expect("lock");
        last = held.lock().cloned();
        host.release(held).unwrap();
    }
    let before = last.expect("held");
    assert!(before.path.ends_with("-lock-0000000001"), "{}", before.path);
    host.block_on(host.client().delete(&path, None))
        .expect("delete the empty parent");
    let held = host.lock(&config, host.lock_args(&path)).expect("lock");
    let after = held.lock().unwrap().clone();
    assert!(
        after.path.ends_with("-lock-0000000000"),
        "sequence restarted: {}",
        after.path
    );
    assert!(after.token > before.token, "czxid still increases");
    host.release(held).unwrap();
    println!(
        "sequence 0000000001 -> 0000000000 after the parent was recreated; token {} -> {}",
        before.token.0, after.token.0
    );
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn election_leader_data_and_resign() {
    let servers = zk_single();
    let config = zk_config();
    let path = zk_path("election");
    let mut first = zk_host(&servers, SESSION);
    let leader = first
        .campaign(&config, &path, "node-1", None)
        .expect("elected");
    let lock = leader.lock().unwrap().clone();
    let (data, _) = first
        .block_on(first.client().get_data(&lock.path))
        .expect("leader node");
    assert_eq!(data, b"node-1", "the leader's node carries its value");

    let second = {
        let (servers, path, config) = (servers.clone(), path.clone(), config.clone());
        thread::spawn(move || {
            let mut host = zk_host(&servers, SESSION);
            let leader = host
                .campaign(&config, &path, "node-2", Some(30_000))
                .expect("elected after the first resigns");
            let lock = leader.lock().unwrap().clone();
            host.release(leader).unwrap();
            lock
        })
    };
    let until = Instant::now() + Duration::from_secs(10);
    while children(&first, &path).len() < 2 && Instant::now() < until {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(first.release(leader).unwrap(), ReleaseOutcome::Released);
    let next = second.join().expect("second campaigner");
    assert!(next.token > lock.token);
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn latency_against_the_bare_recipe() {
    const CYCLES: usize = 500;
    let servers = zk_single();
    let config = zk_config();
    let mut host = zk_host(&servers, SESSION);
    let path = zk_path("latency");
    let client = host.client().clone();
    let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let prefix = format!("{path}/bare-lock-");
    let (mut acquire, mut cycle, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so both see the same machine; the first rounds warm up.
    for round in 0..CYCLES + 20 {
        let start = Instant::now();
        let held = host.lock(&config, host.lock_args(&path)).unwrap();
        let acquired = start.elapsed();
        host.release(held).unwrap();
        let done = start.elapsed();
        // The floor with the same client: create, list, delete (what any recipe needs).
        let start = Instant::now();
        host.block_on(async {
            let (_, sequence) = client.create(&prefix, b"", &options).await.unwrap();
            let children = client.list_children(&path).await.unwrap();
            assert!(!children.is_empty());
            client
                .delete(&format!("{prefix}{sequence}"), None)
                .await
                .unwrap();
        });
        if round >= 20 {
            acquire.push(acquired.as_secs_f64() * 1e3);
            cycle.push(done.as_secs_f64() * 1e3);
            bare.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (a50, a95) = (percentile(&mut acquire, 50), percentile(&mut acquire, 95));
    let (c50, c95) = (percentile(&mut cycle, 50), percentile(&mut cycle, 95));
    let (b50, b95) = (percentile(&mut bare, 50), percentile(&mut bare, 95));
    println!(
        "ZooKeeper, {CYCLES} uncontended cycles: acquire p50 {a50:.2} ms, p95 {a95:.2} ms; \
         acquire + release p50 {c50:.2} ms, p95 {c95:.2} ms; bare create + list + delete with \
         the same client p50 {b50:.2} ms, p95 {b95:.2} ms; ratio p50 {:.2}, p95 {:.2}",
        c50 / b50,
        c95 / b95
    );
    assert!(c50 < 50.0, "acquire + release p50 {c50:.2} ms");
}

#[test]
#[ignore = "needs a live ZooKeeper (servers.sh start-zookeeper)"]
fn bad_input_is_a_typed_error() {
    let servers = zk_single();
    let config = zk_config();
    let mut host = zk_host(&servers, SESSION);
    for (path, code) in [
        ("relative/path", "INVALID_NAME"),
        ("/trailing/", "INVALID_NAME"),
        ("/zookeeper/x", "INVALID_NAME"),
        ("/a//b", "INVALID_NAME"),
        ("", "EMPTY_RESOURCE"),
    ] {
        match host.lock(&config, host.lock_args(path)) {
            Err(ZkAcquireError::Config(e)) => assert_eq!(e.code(), code, "{path:?}"),
            other => panic!("{path:?}: {other:?}"),
        }
    }
    let args = LockArgs::new(
        clock::now(),
        zk_path("bad"),
        unique("g"),
        SessionId(0),
        10_000,
    );
    match host.lock(&config, args) {
        Err(ZkAcquireError::Config(e)) => assert_eq!(e.code(), "INVALID_SESSION"),
        other => panic!("{other:?}"),
    }
    let mut bad = ZooKeeperConfig::new();
    bad.request_timeout = Some(0);
    match host.lock(&bad, host.lock_args(&zk_path("bad"))) {
        Err(ZkAcquireError::Config(e)) => assert_eq!(e.code(), "INVALID_NODE_TIMEOUT"),
        other => panic!("{other:?}"),
    }
}
