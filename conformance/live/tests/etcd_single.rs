//! The etcd mutex, election and observer against one real etcd member (Debian
//! etcd-server 3.4) through its JSON gateway: key layout, tokens, contention,
//! expiry, revocation, interop with Go holders (`etcdctl lock`) and with etcd's
//! server-side `/v3/lock/lock`, and the acquire latency.

mod etcd_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use etcd_support::{
    b64, check_holds, config, etcdctl, grant, host, host_on, keys, percentile, poll_config, revoke,
    single, unb64, unique, wait_for_keys, Hold,
};
use fencelock_core::etcd::{
    AcquireFailure, ElectionArgs, Event, Input, LeaseId, LostReason, MutexArgs, ObserveArgs,
    Observer, ReleaseOutcome,
};
use fencelock_core::{Admission, FenceGuard, Machine};
use fencelock_live::clock;
use fencelock_live::etcd::{Endpoints, EtcdAcquireError};

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn uncontended_lock_uses_go_key_layout_and_create_revision_token() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("layout");
    let held = host
        .lock(&config(10), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let lock = held.lock().unwrap().clone();
    let found = keys(&host, &name);
    assert_eq!(found.len(), 1, "one key under the name: {found:?}");
    let kv = &found[0];
    assert_eq!(
        kv.key,
        format!("{name}/{:x}", lock.lease.0),
        "Go's key layout"
    );
    assert_eq!(&*lock.key, kv.key.as_str());
    assert_eq!(kv.lease, Some(lock.lease));
    assert_eq!(lock.token.0, kv.create_revision, "token = create revision");
    assert_ne!(lock.token.0, lock.lease.0, "never the lease id");
    assert!(lock.valid_until > lock.acquired_at);
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    assert!(keys(&host, &name).is_empty(), "unlock removed the key");
    // The lease was revoked too: a keep-alive finds it gone.
    let (_, body) = host
        .post(
            "/v3/lease/keepalive",
            &format!("{{\"ID\":\"{}\"}}", lock.lease.0),
        )
        .unwrap();
    assert!(!body.contains("\"TTL\""), "lease revoked: {body}");
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn contending_workers_get_increasing_tokens_and_never_overlap() {
    let servers = single();
    let endpoints = Endpoints::new(servers.endpoints.clone());
    let name = unique("contend");
    let log = Arc::new(StdMutex::new(Vec::<Hold>::new()));
    let guard = Arc::new(StdMutex::new(FenceGuard::new()));
    const WORKERS: usize = 4;
    const ROUNDS: usize = 8;
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (endpoints, name, log, guard) =
                (endpoints.clone(), name.clone(), log.clone(), guard.clone());
            thread::spawn(move || {
                let mut host = host_on(&endpoints);
                // Half the workers watch their predecessor, half poll it.
                let config = if worker % 2 == 0 {
                    config(10)
                } else {
                    poll_config(10, 20)
                };
                for _ in 0..ROUNDS {
                    let args = MutexArgs::new(clock::now(), &name).with_timeout(20_000);
                    let held = host.lock(&config, args).expect("lock");
                    let from = Instant::now();
                    let token = held.lock().unwrap().token;
                    let admitted = guard.lock().unwrap().admit(token);
                    assert_eq!(admitted, Admission::Accepted, "stale token {token:?}");
                    thread::sleep(Duration::from_millis(5));
                    let to = Instant::now();
                    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
                    log.lock().unwrap().push(Hold {
                        worker,
                        token: token.0,
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
    assert_eq!(check_holds(&mut holds), WORKERS * ROUNDS);
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn try_lock_on_a_held_lock_fails_and_leaves_no_key() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("try");
    let held = host
        .lock(&config(10), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let mut other = etcd_support::host(&servers);
    let attempt = other.lock(&config(10), MutexArgs::new(clock::now(), &name).try_lock());
    match attempt {
        Err(EtcdAcquireError::Failed {
            reason: AcquireFailure::Locked,
            stats,
        }) => assert!(stats.queued),
        other => panic!("try-lock on a held lock: {other:?}"),
    }
    let found = keys(&host, &name);
    assert_eq!(found.len(), 1, "only the holder's key is left: {found:?}");
    assert_eq!(found[0].key, *held.lock().unwrap().key);
    host.release(held).unwrap();
    let free = other
        .lock(&config(10), MutexArgs::new(clock::now(), &name).try_lock())
        .expect("try-lock on a free lock");
    other.release(free).unwrap();
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn abandoned_holder_lease_expires_then_the_waiter_acquires() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("abandon");
    // etcd's minimum TTL is 2 s with the default election timeout.
    let mut abandoned = host
        .lock(&config(2), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let first = abandoned.lock().unwrap().clone();
    // The holder stops driving its machine (a crash): no keep-alive, no release.
    let mut waiter_host = etcd_support::host(&servers);
    let waiter = waiter_host
        .lock(
            &config(2),
            MutexArgs::new(clock::now(), &name).with_timeout(10_000),
        )
        .expect("the waiter acquires once the lease ends");
    let second = waiter.lock().unwrap().clone();
    assert!(second.token > first.token);
    assert!(
        second.acquired_at >= first.valid_until,
        "the waiter got the lock ({}) before the abandoned holder's validity ended ({})",
        second.acquired_at,
        first.valid_until
    );
    // Driven again, the abandoned machine knows it is lost, and its release
    // leaves the new holder alone.
    assert_eq!(
        host.hold_for(&mut abandoned, Duration::ZERO).unwrap(),
        Some(LostReason::Expired)
    );
    assert_eq!(
        host.release(abandoned).unwrap(),
        ReleaseOutcome::AlreadyExpired
    );
    assert_eq!(keys(&host, &name).len(), 1);
    waiter_host.release(waiter).unwrap();
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn keep_alives_hold_a_lock_over_several_ttls() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("keepalive");
    let mut held = host
        .lock(&config(2), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let first = held.lock().unwrap().valid_until;
    assert_eq!(
        host.hold_for(&mut held, Duration::from_millis(5_000))
            .unwrap(),
        None
    );
    let later = held.lock().unwrap().valid_until;
    assert!(later.0 >= first.0 + 4_000, "{first} -> {later}");
    assert_eq!(keys(&host, &name).len(), 1);
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn revoked_lease_is_noticed_as_lost() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("revoked");
    let mut held = host
        .lock(&config(3), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let lease = held.lock().unwrap().lease;
    revoke(&host, lease);
    let started = Instant::now();
    assert_eq!(
        host.hold_for(&mut held, Duration::from_secs(3)).unwrap(),
        Some(LostReason::Revoked)
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "noticed at the next keep-alive"
    );
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::AlreadyExpired);
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn election_campaign_proclaim_observe_resign() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("election");
    let cfg = config(5);
    let mut a = host
        .campaign(&cfg, ElectionArgs::new(clock::now(), &name, "a"))
        .expect("a elected");
    let a_lock = a.lock().unwrap().clone();
    let leader = host.leader(&cfg, &name).unwrap().expect("a leader");
    assert_eq!(
        (leader.key.as_str(), leader.value.as_str()),
        (&*a_lock.key, "a")
    );
    assert!(host.proclaim(&mut a, "a2").unwrap());
    assert_eq!(host.leader(&cfg, &name).unwrap().unwrap().value, "a2");

    // An observer follows the leader from another thread.
    let (seen_tx, seen_rx) = mpsc::channel();
    let observer = {
        let (servers, name, cfg) = (servers.clone(), name.clone(), cfg.clone());
        thread::spawn(move || {
            let mut host = etcd_support::host(&servers);
            let machine = Observer::new(&cfg, ObserveArgs::observe(clock::now(), &name)).unwrap();
            let mut driven = host.start(machine);
            let until = Instant::now() + Duration::from_secs(10);
            let mut values = Vec::new();
            while Instant::now() < until && values.last() != Some(&String::from("b")) {
                let events = host
                    .drive(&mut driven, None, Some(until), |e| {
                        matches!(e, Event::Leader { .. })
                    })
                    .unwrap();
                for event in events {
                    if let Event::Leader { leader } = event {
                        values.push(leader.map(|l| l.value).unwrap_or_default());
                    }
                }
            }
            let _ = driven
                .machine
                .handle_input(Input::Release { now: clock::now() });
            seen_tx.send(values).unwrap();
        })
    };

    // B queues behind A, and becomes leader when A resigns.
    let (b_tx, b_rx) = mpsc::channel();
    let campaigner = {
        let (servers, name, cfg) = (servers.clone(), name.clone(), cfg.clone());
        thread::spawn(move || {
            let mut host = etcd_support::host(&servers);
            let args = ElectionArgs::new(clock::now(), &name, "b").with_timeout(10_000);
            let b = host.campaign(&cfg, args).expect("b elected");
            b_tx.send(b.lock().unwrap().clone()).unwrap();
            assert_eq!(host.release(b).unwrap(), ReleaseOutcome::Released);
        })
    };
    assert_eq!(
        wait_for_keys(&host, &name, 2, Duration::from_secs(5)).len(),
        2
    );
    assert!(
        b_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "b waits"
    );
    let resigned = Instant::now();
    assert_eq!(host.release(a).unwrap(), ReleaseOutcome::Released);
    let b_lock = b_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("b elected");
    assert!(b_lock.token > a_lock.token);
    assert!(resigned.elapsed() < Duration::from_secs(5));
    campaigner.join().unwrap();
    let values = seen_rx.recv_timeout(Duration::from_secs(12)).unwrap();
    observer.join().unwrap();
    assert_eq!(values.first().map(String::as_str), Some("a2"), "{values:?}");
    assert_eq!(values.last().map(String::as_str), Some("b"), "{values:?}");
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn queued_campaigner_whose_lease_is_revoked_never_becomes_leader() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("phantom");
    let cfg = config(3);
    let a = host
        .campaign(&cfg, ElectionArgs::new(clock::now(), &name, "a"))
        .expect("a elected");
    let (tx, rx) = mpsc::channel();
    let campaigner = {
        let (servers, name, cfg) = (servers.clone(), name.clone(), cfg.clone());
        thread::spawn(move || {
            let mut host = etcd_support::host(&servers);
            let args = ElectionArgs::new(clock::now(), &name, "b").with_timeout(10_000);
            tx.send(host.campaign(&cfg, args).map(|b| b.lock().cloned()))
                .unwrap();
        })
    };
    let queued = wait_for_keys(&host, &name, 2, Duration::from_secs(5));
    let b_lease: LeaseId = queued[1].lease.expect("b's key has a lease");
    revoke(&host, b_lease);
    // B's key is gone; A resigns: nobody must think B leads.
    assert_eq!(host.release(a).unwrap(), ReleaseOutcome::Released);
    match rx
        .recv_timeout(Duration::from_secs(5))
        .expect("campaign ended")
    {
        Err(EtcdAcquireError::Lost(reason)) => {
            assert!(matches!(
                reason,
                LostReason::Revoked | LostReason::KeyDeleted
            ))
        }
        other => panic!("a campaigner without a lease became: {other:?}"),
    }
    campaigner.join().unwrap();
    assert!(host.leader(&cfg, &name).unwrap().is_none());
}

/// Spawns `etcdctl lock name -- <cmd>`: etcd's Go `concurrency.Mutex` holding
/// `name` while `cmd` runs.
fn go_holder(endpoints: &[String], name: &str, cmd: &[&str]) -> std::process::Child {
    etcdctl(endpoints)
        .args(["lock", name, "--"])
        .args(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl (Debian etcd-client) runs")
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn go_holder_from_etcdctl_lock_excludes_ours() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("go-first");
    let started = Instant::now();
    let mut go = go_holder(&servers.endpoints, &name, &["sleep", "2"]);
    let found = wait_for_keys(&host, &name, 1, Duration::from_secs(5));
    assert_eq!(found.len(), 1, "etcdctl lock took the lock");
    let go_key = found[0].clone();
    let go_lease = go_key.lease.expect("Go's key is on its session lease");
    assert_eq!(
        go_key.key,
        format!("{name}/{:x}", go_lease.0),
        "same key layout"
    );
    // Ours cannot take it while the Go holder runs its command.
    match host.lock(&config(10), MutexArgs::new(clock::now(), &name).try_lock()) {
        Err(EtcdAcquireError::Failed {
            reason: AcquireFailure::Locked,
            ..
        }) => {}
        other => panic!("a Go-held lock must be locked for us: {other:?}"),
    }
    let held = host
        .lock(
            &config(10),
            MutexArgs::new(clock::now(), &name).with_timeout(10_000),
        )
        .expect("acquired after the Go holder unlocks");
    let acquired = Instant::now();
    let status = go.wait().unwrap();
    assert!(status.success());
    assert!(
        acquired.duration_since(started) >= Duration::from_millis(1_900),
        "acquired {:?} after etcdctl started its 2 s hold",
        acquired.duration_since(started)
    );
    assert!(held.lock().unwrap().token.0 > go_key.create_revision);
    host.release(held).unwrap();
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn our_holder_excludes_a_go_holder_from_etcdctl_lock() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("ours-first");
    let mut held = host
        .lock(&config(10), MutexArgs::new(clock::now(), &name))
        .expect("lock");
    let mut go = go_holder(&servers.endpoints, &name, &["echo", "go-acquired"]);
    let stdout = go.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("go-acquired") {
                let _ = tx.send(Instant::now());
            }
        }
    });
    // The Go client queues its own key behind ours and waits.
    let queued = wait_for_keys(&host, &name, 2, Duration::from_secs(5));
    assert_eq!(queued.len(), 2, "etcdctl queued behind us: {queued:?}");
    assert!(queued[1].create_revision > held.lock().unwrap().token.0);
    assert_eq!(
        host.hold_for(&mut held, Duration::from_secs(1)).unwrap(),
        None
    );
    assert!(
        rx.try_recv().is_err(),
        "the Go holder ran while we held the lock"
    );
    let released = Instant::now();
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    let go_ran = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the Go holder runs once we unlock");
    assert!(go_ran >= released);
    assert!(go.wait().unwrap().success());
    assert!(wait_for_keys(&host, &name, 0, Duration::ZERO).len() <= 1);
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn server_side_v3_lock_and_ours_exclude_each_other() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("v3lock");
    // etcd's own lock service (it runs Go's Mutex on the server) first.
    let lease = grant(&host, 10);
    let body = format!("{{\"name\":\"{}\",\"lease\":\"{}\"}}", b64(&name), lease.0);
    let (_, answer) = host.post("/v3/lock/lock", &body).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let server_key = unb64(answer["key"].as_str().expect("a lock key"));
    assert_eq!(
        server_key,
        format!("{name}/{:x}", lease.0),
        "same layout as ours"
    );
    match host.lock(&config(10), MutexArgs::new(clock::now(), &name).try_lock()) {
        Err(EtcdAcquireError::Failed {
            reason: AcquireFailure::Locked,
            ..
        }) => {}
        other => panic!("v3lock holds it: {other:?}"),
    }
    let unlock = format!("{{\"key\":\"{}\"}}", b64(&server_key));
    host.post("/v3/lock/unlock", &unlock).unwrap();
    let held = host
        .lock(&config(10), MutexArgs::new(clock::now(), &name).try_lock())
        .expect("free after /v3/lock/unlock");

    // Ours first: /v3/lock/lock blocks until we unlock.
    let (tx, rx) = mpsc::channel();
    let blocked = {
        let (servers, name) = (servers.clone(), name.clone());
        thread::spawn(move || {
            let host = etcd_support::host(&servers);
            let (_, answer) = host
                .post(
                    "/v3/lock/lock",
                    &format!("{{\"name\":\"{}\",\"lease\":\"{}\"}}", b64(&name), lease.0),
                )
                .unwrap();
            tx.send((Instant::now(), answer)).unwrap();
        })
    };
    wait_for_keys(&host, &name, 2, Duration::from_secs(5));
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "v3lock waits for us"
    );
    let released = Instant::now();
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    let (got, answer) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("v3lock granted");
    assert!(got >= released, "{answer}");
    blocked.join().unwrap();
    host.post("/v3/lock/unlock", &unlock).unwrap();
    revoke(&host, lease);
}

#[test]
#[ignore = "needs a live etcd (servers.sh start-etcd)"]
fn acquire_latency_against_local_etcd() {
    let servers = single();
    let mut host = host(&servers);
    let name = unique("latency");
    let cfg = config(10);
    let mut acquire = Vec::new();
    let mut cycle = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let held = host
            .lock(&cfg, MutexArgs::new(clock::now(), &name))
            .expect("lock");
        acquire.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
        cycle.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (a50, a95) = (percentile(&mut acquire, 50), percentile(&mut acquire, 95));
    let (c50, c95) = (percentile(&mut cycle, 50), percentile(&mut cycle, 95));
    println!(
        "etcd mutex, 200 uncontended cycles over the JSON gateway on loopback: \
         acquire (grant + txn) p50 {a50:.2} ms, p95 {a95:.2} ms; \
         acquire + release (+ delete txn + revoke) p50 {c50:.2} ms, p95 {c95:.2} ms"
    );
    assert!(a95 < 1_000.0, "acquire p95 {a95} ms");
}
