//! The PostgreSQL advisory lock against a real PostgreSQL 15 on loopback
//! (`servers.sh start-postgres DIR`): the SQL, the shared key with plain SQL
//! users, the fencing counter, 20 concurrent clients writing a counter through
//! `fenced_update_sql`, `pg_terminate_backend` on the holder (it sees `lost`, the
//! next holder's token is higher and the stale write is rejected), a session
//! shared by two locks, latency against a bare `pg_try_advisory_lock` /
//! `pg_advisory_unlock` loop, bad input.

mod etcd_support;
mod zkpg_support;

use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use etcd_support::{check_holds, percentile, Hold};
use fencelock_core::advisory::{AcquireFailure, LockArgs, LostReason, ReleaseOutcome};
use fencelock_core::fenced_update_sql;
use fencelock_live::advisory::{PgAcquireError, PgHost};
use fencelock_live::clock;
use zkpg_support::{pg, pg_config, unique};

fn args(name: &str) -> LockArgs {
    LockArgs::new(clock::now(), name)
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn plain_sql_users_share_the_lock_and_tokens_increase() {
    let server = pg();
    let config = pg_config(1_000);
    let name = unique("shared");
    let mut host = PgHost::connect(&server).unwrap();
    let held = host.lock(&config, args(&name)).expect("lock");
    let first = held.lock().unwrap().clone();
    let mut plain = server.connect().unwrap();
    let backend: i32 = plain
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    assert_ne!(backend as u32, first.pid);
    // A plain SQL user of the same name is excluded while we hold it...
    let got: bool = plain
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(!got, "plain SQL must not get the lock we hold");
    // ... the lock shows in pg_locks on our backend ...
    let ours: i64 = plain
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted",
            &[&(first.pid as i32)],
        )
        .unwrap()
        .get(0);
    assert_eq!(ours, 1);
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    // ... and takes it once we released; our try-lock then fails with locked.
    let got: bool = plain
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(got);
    let mut try_args = args(&name);
    try_args.try_lock = true;
    match host.lock(&config, try_args) {
        Err(PgAcquireError::Failed { reason, .. }) => assert_eq!(reason, AcquireFailure::Locked),
        other => panic!("{other:?}"),
    }
    plain
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&name],
        )
        .unwrap();
    let held = host.lock(&config, args(&name)).expect("lock again");
    let second = held.lock().unwrap().clone();
    assert_eq!(
        second.token.0,
        first.token.0 + 1,
        "the name's counter, bumped once per holder"
    );
    let stored: i64 = plain
        .query_one(
            "SELECT token FROM fencelock_fence WHERE name = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored as u64, second.token.0);
    host.release(held).unwrap();
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn twenty_clients_fenced_counter_in_postgres() {
    const CLIENTS: usize = 20;
    const ROUNDS: usize = 5;
    let server = pg();
    let name = unique("twenty");
    let mut setup = server.connect().unwrap();
    setup
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS fencelock_live_counter \
             (id text PRIMARY KEY, value bigint NOT NULL, fence_token bigint NOT NULL)",
        )
        .unwrap();
    setup
        .execute(
            "INSERT INTO fencelock_live_counter VALUES ($1, 0, 0)",
            &[&name],
        )
        .unwrap();
    let update =
        fenced_update_sql("fencelock_live_counter", &["value"], "fence_token", "id").unwrap();
    let log = Arc::new(StdMutex::new(Vec::<Hold>::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (server, name, log, update) =
                (server.clone(), name.clone(), log.clone(), update.clone());
            thread::spawn(move || {
                let mut host = PgHost::connect(&server).unwrap();
                let mut resource = server.connect().unwrap();
                let config = pg_config(1_000);
                for _ in 0..ROUNDS {
                    let held = host
                        .lock(&config, args(&name).with_timeout(120_000))
                        .unwrap_or_else(|e| panic!("worker {worker}: {e}"));
                    let from = Instant::now();
                    let lock = held.lock().unwrap().clone();
                    let value: i64 = resource
                        .query_one(
                            "SELECT value FROM fencelock_live_counter WHERE id = $1",
                            &[&name],
                        )
                        .unwrap()
                        .get(0);
                    thread::sleep(Duration::from_millis(1));
                    let written = resource
                        .execute(&update, &[&(value + 1), &(lock.token.0 as i64), &name])
                        .unwrap();
                    assert_eq!(written, 1, "worker {worker}: the fenced write was refused");
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
    let value: i64 = setup
        .query_one(
            "SELECT value FROM fencelock_live_counter WHERE id = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(value as usize, total, "no lost update");
    println!(
        "{CLIENTS} clients x {ROUNDS}: {total} acquisitions in {:.1} s, tokens strictly increasing, \
         no overlap, counter {value} == {total}, every fenced UPDATE admitted",
        started.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn terminated_holder_sees_lost_and_the_next_token_is_higher() {
    let server = pg();
    let name = unique("terminate");
    let mut admin = server.connect().unwrap();
    admin
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS fencelock_live_counter \
             (id text PRIMARY KEY, value bigint NOT NULL, fence_token bigint NOT NULL)",
        )
        .unwrap();
    admin
        .execute(
            "INSERT INTO fencelock_live_counter VALUES ($1, 0, 0)",
            &[&name],
        )
        .unwrap();
    let update =
        fenced_update_sql("fencelock_live_counter", &["value"], "fence_token", "id").unwrap();

    let check_interval = 200;
    let mut holder_host = PgHost::connect(&server).unwrap();
    let mut holder = holder_host
        .lock(&pg_config(check_interval), args(&name))
        .expect("lock");
    let old = holder.lock().unwrap().clone();
    let waiter = {
        let (server, name) = (server.clone(), name.clone());
        thread::spawn(move || {
            let mut host = PgHost::connect(&server).unwrap();
            let held = host
                .lock(&pg_config(1_000), args(&name).with_timeout(30_000))
                .expect("the waiter gets the lock once the holder's backend is gone");
            let lock = held.lock().unwrap().clone();
            (host, held, lock)
        })
    };
    thread::sleep(Duration::from_millis(100));
    let terminated: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&(old.pid as i32)])
        .unwrap()
        .get(0);
    assert!(terminated);
    let cut = Instant::now();
    let lost = holder_host
        .hold_for(&mut holder, Duration::from_secs(5))
        .unwrap();
    assert_eq!(lost, Some(LostReason::SessionLost));
    let noticed = cut.elapsed();
    let (mut next_host, next, new) = waiter.join().expect("waiter");
    assert!(
        new.token > old.token,
        "token {:?} after {:?}",
        new.token,
        old.token
    );
    assert_ne!(new.pid, old.pid);
    // The new holder writes; the old holder's late write is refused by the fence.
    let ok = admin
        .execute(&update, &[&1i64, &(new.token.0 as i64), &name])
        .unwrap();
    assert_eq!(ok, 1);
    let stale = admin
        .execute(&update, &[&2i64, &(old.token.0 as i64), &name])
        .unwrap();
    assert_eq!(stale, 0, "the terminated holder's write is rejected");
    assert_eq!(
        holder_host.release(holder).unwrap(),
        ReleaseOutcome::SessionLost
    );
    assert_eq!(next_host.release(next).unwrap(), ReleaseOutcome::Released);
    println!(
        "pg_terminate_backend({}): holder saw lost{{session_lost}} after {} ms (check every \
         {check_interval} ms); next holder (backend {}) token {} > {}; the old token's write was \
         rejected",
        old.pid,
        noticed.as_millis(),
        new.pid,
        new.token.0,
        old.token.0
    );
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn two_locks_on_one_session_are_refused() {
    let server = pg();
    let config = pg_config(1_000);
    let name = unique("shared-session");
    let mut host = PgHost::connect(&server).unwrap();
    let held = host.lock(&config, args(&name)).expect("lock");
    // The same session asks again: PostgreSQL would stack the lock (two holders);
    // the machine refuses instead.
    match host.lock(&config, args(&name)) {
        Err(PgAcquireError::Failed { reason, .. }) => {
            assert_eq!(reason, AcquireFailure::AlreadyHeld);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::Released);
    let mut plain = server.connect().unwrap();
    let free: bool = plain
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(free, "released once, nothing stacked");
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn latency_against_a_bare_loop() {
    const CYCLES: usize = 1_000;
    let server = pg();
    let config = pg_config(60_000);
    let name = unique("latency");
    // Statements on a session thread (an async adapter), and on the drive thread (a
    // sync adapter: psycopg's Connection).
    let mut threaded = PgHost::connect(&server).unwrap();
    let mut inline = PgHost::connect_inline(&server).unwrap();
    // The floor, same driver, prepared statements, one connection, no fencing.
    let mut bare = server.connect().unwrap();
    let lock = bare
        .prepare("SELECT pg_try_advisory_lock(hashtextextended($1::text, 0))")
        .unwrap();
    let unlock = bare
        .prepare("SELECT pg_advisory_unlock(hashtextextended($1::text, 0))")
        .unwrap();
    let mut samples: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    let mut floor = Vec::new();
    // Interleaved, so all three see the same machine; the first rounds warm up.
    for round in 0..CYCLES + 50 {
        for (host, (acquire, cycle)) in [&mut threaded, &mut inline].into_iter().zip(&mut samples) {
            let start = Instant::now();
            let held = host.lock(&config, args(&name)).unwrap();
            let acquired = start.elapsed();
            host.release(held).unwrap();
            if round >= 50 {
                acquire.push(acquired.as_secs_f64() * 1e3);
                cycle.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let start = Instant::now();
        let got: bool = bare.query_one(&lock, &[&name]).unwrap().get(0);
        assert!(got);
        let released: bool = bare.query_one(&unlock, &[&name]).unwrap().get(0);
        assert!(released);
        if round >= 50 {
            floor.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (f50, f95) = (percentile(&mut floor, 50), percentile(&mut floor, 95));
    println!(
        "PostgreSQL, {CYCLES} uncontended cycles; bare pg_try_advisory_lock + \
         pg_advisory_unlock p50 {f50:.3} ms, p95 {f95:.3} ms"
    );
    for (label, (acquire, cycle)) in ["session thread", "inline"].into_iter().zip(&mut samples) {
        let (a50, a95) = (percentile(acquire, 50), percentile(acquire, 95));
        let (c50, c95) = (percentile(cycle, 50), percentile(cycle, 95));
        println!(
            "  {label}: acquire (try_lock + fence) p50 {a50:.3} ms, p95 {a95:.3} ms; acquire + \
             release p50 {c50:.3} ms, p95 {c95:.3} ms; ratio p50 {:.2}, p95 {:.2}",
            c50 / f50,
            c95 / f95
        );
        assert!(c50 < 50.0, "{label}: acquire + release p50 {c50:.3} ms");
    }
}

#[test]
#[ignore = "needs a live PostgreSQL (servers.sh start-postgres)"]
fn bad_input_is_a_typed_error() {
    let server = pg();
    let mut host = PgHost::connect(&server).unwrap();
    let config = pg_config(1_000);
    for (name, code) in [
        ("", "EMPTY_RESOURCE"),
        ("a\0b", "INVALID_NAME"),
        (&*"x".repeat(513), "RESOURCE_TOO_LONG"),
    ] {
        match host.lock(&config, args(name)) {
            Err(PgAcquireError::Config(e)) => assert_eq!(e.code(), code),
            other => panic!("{other:?}"),
        }
    }
    let mut bad = pg_config(1_000);
    bad.check_interval = Some(0);
    match host.lock(&bad, args("x")) {
        Err(PgAcquireError::Config(e)) => assert_eq!(e.code(), "INVALID_WAIT"),
        other => panic!("{other:?}"),
    }
    // A session whose connection is gone: the machine reports session_lost.
    let held = host.lock(&config, args(&unique("gone"))).expect("lock");
    let pid = held.lock().unwrap().pid;
    let mut admin = server.connect().unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&(pid as i32)])
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(host.release(held).unwrap(), ReleaseOutcome::SessionLost);
    match host.lock(&config, args(&unique("after"))) {
        Err(PgAcquireError::Failed { reason, .. }) => {
            assert_eq!(reason, AcquireFailure::SessionLost)
        }
        other => panic!("{other:?}"),
    }
}
