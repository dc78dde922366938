//! Redlock against five real masters: contending workers, a fenced counter, and
//! faults in the middle of the run (one master SIGSTOPped, another SIGKILLed,
//! then the stopped one continued while the run goes on, so its late replies
//! reach clients that are already driving newer machines).
//!
//! Note: the SIGKILLed master (the fifth) stays dead for the rest of the server
//! set's life; the other live tests need only a quorum, so they still pass.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fencelock_live::{AcquireError, Client, FencedResource, FencedWrite};

const WORKERS: usize = 4;
/// Acquisitions wanted in each phase (before faults, during, after continuing).
const PER_PHASE: usize = 10;
/// Shortest phase, so each one spans several node timeouts and lock TTLs.
const MIN_PHASE: Duration = Duration::from_millis(700);
/// Bound on the whole run.
const RUN_LIMIT: Duration = Duration::from_secs(90);
const STOPPED_MASTER: usize = 1;
const KILLED_MASTER: usize = 4;

#[derive(Default)]
struct Shared {
    in_critical_section: AtomicBool,
    overlaps: AtomicUsize,
    acquisitions: AtomicUsize,
    failed_acquires: AtomicUsize,
    stale_writes_rejected: AtomicUsize,
    writes_past_validity: AtomicUsize,
    dropped_late_replies: AtomicU64,
    reconnects: AtomicU64,
    /// Tokens in acquisition order (pushed inside the critical section).
    tokens: Mutex<Vec<u64>>,
    stop: AtomicBool,
}

/// Waits until `count` acquisitions happened and the phase lasted `MIN_PHASE`.
fn wait_for(shared: &Shared, count: usize, started: Instant) -> bool {
    let phase_start = Instant::now();
    while shared.acquisitions.load(Ordering::SeqCst) < count || phase_start.elapsed() < MIN_PHASE {
        if started.elapsed() > RUN_LIMIT {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn contention_with_a_stopped_and_a_killed_master_keeps_exclusion_and_fencing() {
    let servers = common::servers();
    let masters = common::master_ports(&servers);
    let resource_port = common::resource_port(&servers);
    let lock_name = common::unique("faults");
    let resource_name = common::unique("counter");
    let shared = Arc::new(Shared::default());
    let started = Instant::now();

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let shared = Arc::clone(&shared);
            let masters = masters.clone();
            let (lock_name, resource_name) = (lock_name.clone(), resource_name.clone());
            thread::spawn(move || {
                let config = common::config(1_000);
                let mut client = Client::connect(&masters);
                let mut resource =
                    FencedResource::connect(resource_port, &resource_name).expect("resource");
                while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < RUN_LIMIT {
                    let held = match client.acquire(
                        &config,
                        &[&lock_name],
                        Some(Duration::from_secs(5)),
                    ) {
                        Ok(held) => held,
                        Err(AcquireError::Failed { .. }) => {
                            shared.failed_acquires.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        Err(e) => panic!("worker {worker}: {e}"),
                    };
                    let token = held.token().expect("fencing is on");
                    if shared.in_critical_section.swap(true, Ordering::SeqCst) {
                        shared.overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    shared.tokens.lock().unwrap().push(token);
                    let counter: u64 = resource
                        .read()
                        .expect("read")
                        .map_or(0, |v| v.parse().expect("counter"));
                    thread::sleep(Duration::from_millis(2));
                    if held.remaining().is_zero() {
                        shared.writes_past_validity.fetch_add(1, Ordering::SeqCst);
                    }
                    match resource
                        .write(token, &(counter + 1).to_string())
                        .expect("write")
                    {
                        FencedWrite::Accepted => {}
                        FencedWrite::Rejected { .. } => {
                            shared.stale_writes_rejected.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    shared.acquisitions.fetch_add(1, Ordering::SeqCst);
                    shared.in_critical_section.store(false, Ordering::SeqCst);
                    client.release(held).expect("release");
                }
                let stats = client.stats();
                shared
                    .dropped_late_replies
                    .fetch_add(stats.dropped_replies, Ordering::SeqCst);
                shared
                    .reconnects
                    .fetch_add(stats.reconnects, Ordering::SeqCst);
            })
        })
        .collect();

    // Phase 1: all masters up.
    let phase1 = wait_for(&shared, PER_PHASE, started);
    // Phase 2: one master stopped (guard continues it even if we panic), one killed.
    let stopped = common::Stopped::new(&[servers.pids[STOPPED_MASTER]]);
    common::signal(servers.pids[KILLED_MASTER], "KILL");
    let at_fault = shared.acquisitions.load(Ordering::SeqCst);
    let phase2 = phase1 && wait_for(&shared, at_fault + PER_PHASE, started);
    // Phase 3: the stopped master continues; its backlog of late replies arrives.
    stopped.resume();
    let at_resume = shared.acquisitions.load(Ordering::SeqCst);
    let phase3 = phase2 && wait_for(&shared, at_resume + PER_PHASE, started);
    shared.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().expect("worker panicked");
    }

    let total = shared.acquisitions.load(Ordering::SeqCst);
    let tokens = shared.tokens.lock().unwrap().clone();
    let mut resource = FencedResource::connect(resource_port, &resource_name).unwrap();
    let counter: usize = resource.read().unwrap().map_or(0, |v| v.parse().unwrap());
    eprintln!(
        "faults: {total} acquisitions ({at_fault} before the faults, {} while a master was stopped, \
         {} after it continued), {} failed acquires, {} late replies dropped, {} reconnects, \
         tokens {:?}..{:?}",
        at_resume - at_fault,
        total - at_resume,
        shared.failed_acquires.load(Ordering::SeqCst),
        shared.dropped_late_replies.load(Ordering::SeqCst),
        shared.reconnects.load(Ordering::SeqCst),
        tokens.first(),
        tokens.last(),
    );

    assert!(
        phase1,
        "no {PER_PHASE} acquisitions before the faults within {RUN_LIMIT:?}"
    );
    assert!(
        phase2,
        "the lock was not acquired {PER_PHASE} times with a quorum of 3 of 5 masters"
    );
    assert!(
        phase3,
        "the lock was not acquired {PER_PHASE} times after the stopped master continued"
    );
    assert_eq!(
        shared.overlaps.load(Ordering::SeqCst),
        0,
        "two holders overlapped"
    );
    assert_eq!(
        shared.writes_past_validity.load(Ordering::SeqCst),
        0,
        "a holder outlived its validity"
    );
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "tokens must strictly increase in acquisition order: {tokens:?}"
    );
    assert_eq!(
        shared.stale_writes_rejected.load(Ordering::SeqCst),
        0,
        "with no overlap, no write may be stale"
    );
    assert_eq!(
        counter, total,
        "every acquisition wrote exactly one increment"
    );
    assert!(
        shared.dropped_late_replies.load(Ordering::SeqCst) > 0,
        "the stopped master's late replies should have been dropped, not delivered"
    );
}
