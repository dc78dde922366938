//! The life of one lease against real masters: expiry, auto-extension, and loss
//! when every master stops answering.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use fencelock_core::backoff::RetryPolicy;
use fencelock_core::redlock::{Event, LostReason, ReleaseOutcome, State};
use fencelock_core::Millis;
use fencelock_live::{clock, AcquireError, Client, ExtendOutcome};

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn releasing_an_expired_lease_reports_already_expired() {
    let servers = common::servers();
    let mut client = Client::connect(&common::master_ports(&servers));
    let lock = common::unique("expired");
    let held = client
        .acquire(&common::config(300), &[&lock], Some(Duration::from_secs(5)))
        .expect("acquire");
    // Past the keys' TTL on the servers, not only past the lease's validity.
    thread::sleep(Duration::from_millis(300 + 150));
    assert_eq!(
        client.release(held).unwrap(),
        ReleaseOutcome::AlreadyExpired
    );
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn explicit_extension_moves_validity_and_a_lost_lease_cannot_be_extended() {
    let servers = common::servers();
    let mut client = Client::connect(&common::master_ports(&servers));
    let lock = common::unique("extend");
    let mut held = client
        .acquire(
            &common::config(1_000),
            &[&lock],
            Some(Duration::from_secs(5)),
        )
        .expect("acquire");
    let first = held.valid_until();
    thread::sleep(Duration::from_millis(50));
    match client.extend(&mut held).unwrap() {
        ExtendOutcome::Extended(until) => {
            assert!(
                until > first,
                "extension moves validity: {until} vs {first}"
            );
            assert_eq!(held.valid_until(), until);
        }
        other => panic!("extend: {other:?}"),
    }
    thread::sleep(held.remaining() + Duration::from_millis(20));
    assert_eq!(
        client.extend(&mut held).unwrap(),
        ExtendOutcome::Lost(LostReason::Expired)
    );
    assert_eq!(held.state(), State::Lost);
    let _ = client.release(held).unwrap();
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn auto_extension_keeps_a_lease_for_several_ttls() {
    let servers = common::servers();
    let masters = common::master_ports(&servers);
    let mut client = Client::connect(&masters);
    let extended = Arc::new(AtomicU32::new(0));
    {
        let extended = Arc::clone(&extended);
        client.on_event(move |e| {
            if matches!(e, Event::Extended { .. }) {
                extended.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let lock = common::unique("auto");
    let ttl = 600;
    let mut config = common::config(ttl);
    config.auto_extend = true;
    let mut held = client
        .acquire(&config, &[&lock], Some(Duration::from_secs(5)))
        .expect("acquire");
    let token = held.token();

    let lost = client
        .hold_for(&mut held, Duration::from_millis(ttl * 4))
        .unwrap();
    assert_eq!(lost, None, "the lease must survive four TTLs");
    assert!(held.remaining() > Duration::ZERO);
    let extensions = extended.load(Ordering::SeqCst);
    assert!(
        extensions >= 4,
        "expected at least 4 extensions in 4 TTLs, saw {extensions}"
    );
    assert_eq!(held.token(), token, "extension keeps the token");

    // Still exclusive: a try-lock from another client fails.
    let mut other = Client::connect(&masters);
    let mut try_lock = common::config(ttl);
    try_lock.retry = RetryPolicy::no_retry();
    match other.acquire(&try_lock, &[&lock], None) {
        Err(AcquireError::Failed { stats, .. }) => assert_eq!(stats.contended, 1),
        other => panic!("another client got the extended lock: {other:?}"),
    }
    assert_eq!(client.release(held).unwrap(), ReleaseOutcome::Released);
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn a_lease_whose_masters_all_stop_is_lost_before_its_validity_ends() {
    let servers = common::servers();
    let mut client = Client::connect(&common::master_ports(&servers));
    let lost_at: Arc<Mutex<Option<(Millis, LostReason)>>> = Arc::default();
    {
        let lost_at = Arc::clone(&lost_at);
        client.on_event(move |e| {
            if let Event::Lost { reason, .. } = e {
                *lost_at.lock().unwrap() = Some((clock::now(), *reason));
            }
        });
    }
    let lock = common::unique("all-stopped");
    let ttl = 600;
    let mut config = common::config(ttl);
    config.auto_extend = true;
    let mut held = client
        .acquire(&config, &[&lock], Some(Duration::from_secs(5)))
        .expect("acquire");

    let pids = &servers.pids[..common::MASTERS];
    let outcome = {
        let _stopped = common::Stopped::new(pids);
        let lost = client
            .hold_for(&mut held, Duration::from_millis(ttl * 3))
            .unwrap();
        let valid_until = held.valid_until();
        (lost, valid_until)
        // `_stopped` continues the masters here, also if the lines above panic.
    };
    let (lost, valid_until) = outcome;
    assert_eq!(lost, Some(LostReason::ExtensionFailed));
    let (when, reason) = lost_at.lock().unwrap().expect("a Lost event");
    assert_eq!(reason, LostReason::ExtensionFailed);
    assert!(
        when < valid_until,
        "Lost must come before the validity ends: at {when}, valid until {valid_until}"
    );
    assert_eq!(held.state(), State::Lost);
    let outcome = client.release(held).unwrap();
    eprintln!("all masters stopped: lost at {when}, valid until {valid_until}, release after continuing: {outcome:?}");
}
