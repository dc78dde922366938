//! A holder that pauses past its validity: meanwhile another worker acquires
//! (with a higher token) and writes; the paused holder's late write is refused
//! by the fenced resource, and its release does not report `Released`.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use fencelock_core::redlock::{Event, LostReason, ReleaseOutcome};
use fencelock_live::{clock, Client, FencedResource, FencedWrite};

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn a_paused_holders_late_write_is_rejected_and_its_release_is_not_released() {
    let servers = common::servers();
    let masters = common::master_ports(&servers);
    let resource_port = common::resource_port(&servers);
    let lock_name = common::unique("paused");
    let resource_name = common::unique("paused-res");
    let config = common::config(800); // no auto-extension

    let mut a = Client::connect(&masters);
    let a_events = Arc::new(Mutex::new(Vec::new()));
    {
        let a_events = Arc::clone(&a_events);
        a.on_event(move |e| a_events.lock().unwrap().push(e.clone()));
    }
    let mut a_resource = FencedResource::connect(resource_port, &resource_name).unwrap();
    let held_a = a
        .acquire(&config, &[&lock_name], Some(Duration::from_secs(5)))
        .expect("A acquires");
    let token_a = held_a.token().unwrap();
    assert_eq!(
        a_resource.write(token_a, "a-1").unwrap(),
        FencedWrite::Accepted
    );

    // B contends while A is "paused" (A's thread just sleeps, driving nothing).
    let (to_main, from_b) = mpsc::channel();
    let (to_b, b_inbox) = mpsc::channel::<()>();
    let b = {
        let (masters, lock_name, resource_name) =
            (masters.clone(), lock_name.clone(), resource_name.clone());
        let config = config.clone();
        thread::spawn(move || {
            let mut b = Client::connect(&masters);
            let mut resource = FencedResource::connect(resource_port, &resource_name).unwrap();
            let held_b = b
                .acquire(&config, &[&lock_name], Some(Duration::from_secs(10)))
                .expect("B acquires once A's lease has expired");
            let token_b = held_b.token().unwrap();
            let write = resource.write(token_b, "b-1").unwrap();
            to_main.send((token_b, write)).unwrap();
            // Hold until A is done (bounded), then release.
            let _ = b_inbox.recv_timeout(Duration::from_secs(10));
            b.release(held_b).expect("B releases")
        })
    };

    let (token_b, b_write) = from_b
        .recv_timeout(Duration::from_secs(15))
        .expect("B acquired and wrote");
    assert_eq!(b_write, FencedWrite::Accepted);
    assert!(
        token_b > token_a,
        "B's token {token_b} must exceed A's {token_a}"
    );

    // A wakes up: its lease ended long ago, but A writes anyway.
    let now = clock::now();
    assert!(
        now > held_a.valid_until(),
        "A is past its validity ({now} vs {})",
        held_a.valid_until()
    );
    assert_eq!(
        a_resource.write(token_a, "a-late").unwrap(),
        FencedWrite::Rejected { highest: token_b },
        "the stale write must be refused"
    );
    assert_eq!(a_resource.read().unwrap().as_deref(), Some("b-1"));

    let a_outcome = a.release(held_a).expect("A releases");
    eprintln!("paused holder: token A {token_a}, token B {token_b}, A's release: {a_outcome:?}");
    assert_ne!(a_outcome, ReleaseOutcome::Released);
    assert_eq!(
        a_outcome,
        ReleaseOutcome::HeldByOther,
        "B holds the keys A's value lost"
    );
    let events = a_events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Lost {
                reason: LostReason::Expired,
                ..
            }
        )),
        "A's machine reports the loss once driven again: {events:?}"
    );

    to_b.send(()).unwrap();
    assert_eq!(b.join().unwrap(), ReleaseOutcome::Released);
}
