//! Host behaviour: script cache loss (`NOSCRIPT`) and unreachable masters.

mod common;

use std::time::Duration;

use fencelock_core::redlock::ReleaseOutcome;
use fencelock_live::{BlockingConn, Client};

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn a_flushed_script_cache_is_reloaded_and_the_lock_still_works() {
    let servers = common::servers();
    let masters = common::master_ports(&servers);
    let mut client = Client::connect(&masters);
    assert!(client.warnings().is_empty(), "{:?}", client.warnings());
    for (port, pid) in masters.iter().zip(&servers.pids) {
        if !common::alive(*pid) {
            continue; // the fault test kills one master for good
        }
        let mut conn = BlockingConn::connect(*port, Duration::from_secs(2)).unwrap();
        conn.call_str(&["SCRIPT", "FLUSH"]).unwrap();
    }
    let lock = common::unique("noscript");
    let held = client
        .acquire(
            &common::config(1_000),
            &[&lock],
            Some(Duration::from_secs(5)),
        )
        .expect("acquire after the script cache was flushed");
    assert!(
        held.stats.attempts >= 2,
        "the first attempt met NOSCRIPT everywhere"
    );
    assert!(client.stats().noscript >= 3, "{:?}", client.stats());
    assert_eq!(client.release(held).unwrap(), ReleaseOutcome::Released);
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn unreachable_masters_fail_fast_with_connection_errors() {
    let servers = common::servers();
    // Three live masters and two ports nobody listens on (a just-closed listener's).
    let dead: Vec<u16> = (0..2)
        .map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        })
        .collect();
    let live: Vec<u16> = common::master_ports(&servers)
        .into_iter()
        .zip(&servers.pids)
        .filter(|(_, pid)| common::alive(**pid))
        .map(|(port, _)| port)
        .take(3)
        .collect();
    let ports = [live.clone(), dead].concat();
    let mut client = Client::connect(&ports);
    let lock = common::unique("unreachable");
    let started = std::time::Instant::now();
    let held = client
        .acquire(
            &common::config(1_000),
            &[&lock],
            Some(Duration::from_secs(5)),
        )
        .expect("a quorum of 3 live masters suffices");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused connections answer at once"
    );
    assert_eq!(client.release(held).unwrap(), ReleaseOutcome::Released);

    // Only two reachable masters out of five: no quorum, and the deadline holds.
    let ports = [live[..2].to_vec(), ports[3..].to_vec(), vec![ports[3]]].concat();
    let mut client = Client::connect(&ports);
    let err = client
        .acquire(
            &common::config(1_000),
            &[&lock],
            Some(Duration::from_millis(300)),
        )
        .expect_err("no quorum");
    assert!(
        matches!(err, fencelock_live::AcquireError::Failed { .. }),
        "{err}"
    );
}
