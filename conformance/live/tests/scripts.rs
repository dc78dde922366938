//! Script-level checks: the Lua in `fencelock_core::redlock` and
//! `fencelock_core::fence`, run on a real redis-server.
//!
//! Run after `servers.sh start-redis 6 DIR` with the env exported:
//! `cargo test -p fencelock-live -- --ignored --test-threads=1`.

mod common;

use std::time::Duration;

use fencelock_core::fence::{REDIS_FENCED_SET, REDIS_FENCED_SET_SHA1};
use fencelock_core::redlock::Script;
use fencelock_core::wire::resp::RespValue;
use fencelock_live::{BlockingConn, FencedResource, FencedWrite};

fn conn() -> BlockingConn {
    let servers = common::servers();
    BlockingConn::connect(common::resource_port(&servers), Duration::from_secs(5))
        .expect("connect to the resource redis")
}

/// Runs `script` by source (`EVAL`), so these checks do not depend on the SHA1
/// constants (checked separately).
fn run(conn: &mut BlockingConn, script: Script, keys: &[&str], args: &[&str]) -> RespValue {
    let numkeys = keys.len().to_string();
    let mut all = vec!["EVAL", script.source(), &numkeys];
    all.extend_from_slice(keys);
    all.extend_from_slice(args);
    conn.call_str(&all).expect("EVAL")
}

fn int(conn: &mut BlockingConn, script: Script, keys: &[&str], args: &[&str]) -> i64 {
    match run(conn, script, keys, args) {
        RespValue::Integer(n) => n,
        other => panic!("{} returned {other:?}, not an integer", script.name()),
    }
}

fn get(conn: &mut BlockingConn, key: &str) -> Option<String> {
    match conn.call_str(&["GET", key]).expect("GET") {
        RespValue::Bulk(v) => v.map(|b| String::from_utf8(b).expect("utf-8")),
        other => panic!("GET {key} returned {other:?}"),
    }
}

fn pttl(conn: &mut BlockingConn, key: &str) -> i64 {
    match conn.call_str(&["PTTL", key]).expect("PTTL") {
        RespValue::Integer(n) => n,
        other => panic!("PTTL returned {other:?}"),
    }
}

struct Keys {
    lock: String,
    fence: String,
}

fn keys(resource: &str) -> Keys {
    Keys {
        lock: format!("fencelock:lock:{{{resource}}}"),
        fence: format!("fencelock:fence:{{{resource}}}"),
    }
}

/// Keys for `resource` whose fencing counter already exists (at 0), so the
/// tokens count 1, 2, ... (a missing counter would start from the master's clock).
fn counted(conn: &mut BlockingConn, resource: &str) -> Keys {
    let k = keys(resource);
    conn.call_str(&["SET", &k.fence, "0"]).expect("SET");
    k
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn script_sha1s_match_what_redis_computes() {
    let mut conn = conn();
    for script in Script::ALL {
        let sha = conn.script_load(script.source()).expect("SCRIPT LOAD");
        assert_eq!(
            sha,
            script.sha1(),
            "SHA1 constant of the {} script",
            script.name()
        );
    }
    let sha = conn.script_load(REDIS_FENCED_SET).expect("SCRIPT LOAD");
    assert_eq!(
        sha, REDIS_FENCED_SET_SHA1,
        "SHA1 constant of REDIS_FENCED_SET"
    );
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn acquire_numbers_successive_holders_and_never_bumps_for_its_own_value() {
    let mut c = conn();
    let k = counted(&mut c, &common::unique("acq"));
    let both = [k.lock.as_str(), k.fence.as_str()];

    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v1", "10000", "1"]),
        1
    );
    assert_eq!(get(&mut c, &k.lock).as_deref(), Some("v1"));
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("1"));
    let ttl = pttl(&mut c, &k.lock);
    assert!((9_000..=10_000).contains(&ttl), "PTTL {ttl}");

    // Our own value again: granted, same counter.
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v1", "10000", "1"]),
        1
    );
    // Someone else while we hold: refused, nothing written.
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v2", "10000", "1"]),
        0
    );
    assert_eq!(get(&mut c, &k.lock).as_deref(), Some("v1"));
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("1"));

    // Successive holders count up.
    assert_eq!(int(&mut c, Script::Release, &[&k.lock], &["v1"]), 1);
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v2", "10000", "1"]),
        2
    );
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v2", "10000", "1"]),
        2
    );
    assert_eq!(int(&mut c, Script::Release, &[&k.lock], &["v2"]), 1);
    assert_eq!(int(&mut c, Script::Acquire, &both, &["v3", "50", "1"]), 3);

    // An expired key is free again, and the next holder still counts up.
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(get(&mut c, &k.lock), None);
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v4", "10000", "1"]),
        4
    );
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("4"));

    // Without counters (fencing off) the reply is 1 and no counter is written.
    let plain = keys(&common::unique("plain"));
    assert_eq!(
        int(
            &mut c,
            Script::Acquire,
            &[&plain.lock],
            &["v", "10000", "1"]
        ),
        1
    );
    assert_eq!(
        int(
            &mut c,
            Script::Acquire,
            &[&plain.lock],
            &["w", "10000", "1"]
        ),
        0
    );
    assert_eq!(get(&mut c, &plain.fence), None);
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn multi_resource_acquire_is_all_or_nothing_and_takes_one_more_than_the_max() {
    let mut c = conn();
    let (a, b, d) = (
        keys(&common::unique("a")),
        keys(&common::unique("b")),
        keys(&common::unique("d")),
    );
    c.call_str(&["SET", &a.fence, "5"]).expect("SET");
    c.call_str(&["SET", &b.fence, "2"]).expect("SET");
    c.call_str(&["SET", &d.fence, "0"]).expect("SET");

    let ab = [
        a.lock.as_str(),
        b.lock.as_str(),
        a.fence.as_str(),
        b.fence.as_str(),
    ];
    assert_eq!(int(&mut c, Script::Acquire, &ab, &["v", "10000", "2"]), 6);
    assert_eq!(get(&mut c, &a.fence).as_deref(), Some("6"));
    assert_eq!(get(&mut c, &b.fence).as_deref(), Some("6"));
    assert_eq!(get(&mut c, &a.lock).as_deref(), Some("v"));
    assert_eq!(get(&mut c, &b.lock).as_deref(), Some("v"));
    // Re-acquiring both with our value: no bump.
    assert_eq!(int(&mut c, Script::Acquire, &ab, &["v", "10000", "2"]), 6);

    // {b, d} by another value: b is held, so nothing is set (d stays free).
    let bd = [
        b.lock.as_str(),
        d.lock.as_str(),
        b.fence.as_str(),
        d.fence.as_str(),
    ];
    assert_eq!(int(&mut c, Script::Acquire, &bd, &["w", "10000", "2"]), 0);
    assert_eq!(get(&mut c, &d.lock), None);
    assert_eq!(get(&mut c, &d.fence).as_deref(), Some("0"));

    // {b, d} by our value: d was free, so the counters move to max + 1 on both.
    assert_eq!(int(&mut c, Script::Acquire, &bd, &["v", "10000", "2"]), 7);
    assert_eq!(get(&mut c, &b.fence).as_deref(), Some("7"));
    assert_eq!(get(&mut c, &d.fence).as_deref(), Some("7"));
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn a_missing_counter_starts_from_the_master_clock() {
    let mut c = conn();
    let k = keys(&common::unique("clock"));
    let both = [k.lock.as_str(), k.fence.as_str()];
    let micros = |c: &mut BlockingConn| match c.call_str(&["TIME"]).expect("TIME") {
        RespValue::Array(Some(parts)) => {
            let part = |i: usize| match &parts[i] {
                RespValue::Bulk(Some(b)) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                other => panic!("TIME part {other:?}"),
            };
            part(0) * 1_000_000 + part(1)
        }
        other => panic!("TIME returned {other:?}"),
    };
    let before = micros(&mut c);
    let token = int(&mut c, Script::Acquire, &both, &["v1", "10000", "1"]);
    let after = micros(&mut c);
    assert!(
        before < token && token <= after + 1,
        "{before} < {token} <= {after} + 1"
    );
    assert_eq!(get(&mut c, &k.fence), Some(token.to_string()));
    // A master that lost its data (the counter is gone): the next token still
    // comes out above the old one, because the master's clock moved on.
    assert_eq!(int(&mut c, Script::Release, &[&k.lock], &["v1"]), 1);
    c.call_str(&["DEL", &k.fence]).expect("DEL");
    std::thread::sleep(Duration::from_millis(2));
    let next = int(&mut c, Script::Acquire, &both, &["v2", "10000", "1"]);
    assert!(next > token, "{next} > {token}");
    // Once it exists, it counts up by one.
    assert_eq!(int(&mut c, Script::Release, &[&k.lock], &["v2"]), 1);
    assert_eq!(
        int(&mut c, Script::Acquire, &both, &["v3", "10000", "1"]),
        next + 1
    );
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn extend_answers_1_0_or_minus_1() {
    let mut c = conn();
    let (a, b) = (
        counted(&mut c, &common::unique("ea")),
        counted(&mut c, &common::unique("eb")),
    );
    let ab_locks = [a.lock.as_str(), b.lock.as_str()];
    let ab = [
        a.lock.as_str(),
        b.lock.as_str(),
        a.fence.as_str(),
        b.fence.as_str(),
    ];
    assert_eq!(int(&mut c, Script::Acquire, &ab, &["v", "1000", "2"]), 1);

    assert_eq!(int(&mut c, Script::Extend, &ab_locks, &["v", "60000"]), 1);
    for key in ab_locks {
        let ttl = pttl(&mut c, key);
        assert!(ttl > 50_000, "extend reset the TTL of {key}: {ttl}");
    }
    assert_eq!(
        int(&mut c, Script::Extend, &ab_locks, &["other", "60000"]),
        -1
    );

    // One key gone: 0, and the other key's TTL is left alone.
    c.call_str(&["DEL", &b.lock]).expect("DEL");
    c.call_str(&["PEXPIRE", &a.lock, "5000"]).expect("PEXPIRE");
    assert_eq!(int(&mut c, Script::Extend, &ab_locks, &["v", "60000"]), 0);
    assert!(pttl(&mut c, &a.lock) <= 5_000);

    // A key held by another value wins over a missing one.
    c.call_str(&["SET", &b.lock, "other"]).expect("SET");
    c.call_str(&["DEL", &a.lock]).expect("DEL");
    assert_eq!(int(&mut c, Script::Extend, &ab_locks, &["v", "60000"]), -1);
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn release_answers_the_count_deleted_or_minus_1() {
    let mut c = conn();
    let (a, b) = (
        counted(&mut c, &common::unique("ra")),
        counted(&mut c, &common::unique("rb")),
    );
    let ab_locks = [a.lock.as_str(), b.lock.as_str()];
    let ab = [
        a.lock.as_str(),
        b.lock.as_str(),
        a.fence.as_str(),
        b.fence.as_str(),
    ];
    assert_eq!(int(&mut c, Script::Acquire, &ab, &["v", "10000", "2"]), 1);
    assert_eq!(int(&mut c, Script::Release, &ab_locks, &["v"]), 2);
    assert_eq!(get(&mut c, &a.lock), None);
    assert_eq!(int(&mut c, Script::Release, &ab_locks, &["v"]), 0);

    // Another owner holds b: -1, b untouched (our a is still deleted).
    assert_eq!(int(&mut c, Script::Acquire, &ab, &["v", "10000", "2"]), 2);
    c.call_str(&["SET", &b.lock, "other", "PX", "10000"])
        .expect("SET");
    assert_eq!(int(&mut c, Script::Release, &ab_locks, &["v"]), -1);
    assert_eq!(get(&mut c, &b.lock).as_deref(), Some("other"));
    assert_eq!(get(&mut c, &a.lock), None);
    // Counters survive release.
    assert_eq!(get(&mut c, &a.fence).as_deref(), Some("2"));
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn fence_write_back_answers_token_0_or_the_higher_counter() {
    let mut c = conn();
    let k = counted(&mut c, &common::unique("fb"));
    let both = [k.lock.as_str(), k.fence.as_str()];
    assert_eq!(int(&mut c, Script::Acquire, &both, &["v", "10000", "1"]), 1);

    assert_eq!(int(&mut c, Script::Fence, &both, &["v", "7", "1"]), 7);
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("7"));
    // Writing the same token again confirms it.
    assert_eq!(int(&mut c, Script::Fence, &both, &["v", "7", "1"]), 7);
    // A lower token: the higher counter comes back, nothing written.
    assert_eq!(int(&mut c, Script::Fence, &both, &["v", "5", "1"]), 7);
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("7"));
    // Not our lock: 0, nothing written.
    assert_eq!(int(&mut c, Script::Fence, &both, &["w", "9", "1"]), 0);
    assert_eq!(int(&mut c, Script::Release, &[&k.lock], &["v"]), 1);
    assert_eq!(int(&mut c, Script::Fence, &both, &["v", "9", "1"]), 0);
    assert_eq!(get(&mut c, &k.fence).as_deref(), Some("7"));
    // The next holder continues above the written-back token.
    assert_eq!(int(&mut c, Script::Acquire, &both, &["w", "10000", "1"]), 8);
}

#[test]
#[ignore = "needs live redis servers (servers.sh)"]
fn fenced_set_admits_equal_and_higher_tokens_only() {
    let servers = common::servers();
    let name = common::unique("res");
    let mut res =
        FencedResource::connect(common::resource_port(&servers), &name).expect("resource");
    assert_eq!(res.script_sha(), REDIS_FENCED_SET_SHA1);
    assert_eq!(res.highest().unwrap(), 0);
    assert_eq!(res.write(3, "a").unwrap(), FencedWrite::Accepted);
    assert_eq!(res.write(3, "b").unwrap(), FencedWrite::Accepted);
    assert_eq!(
        res.write(2, "stale").unwrap(),
        FencedWrite::Rejected { highest: 3 }
    );
    assert_eq!(res.read().unwrap().as_deref(), Some("b"));
    assert_eq!(res.write(10, "c").unwrap(), FencedWrite::Accepted);
    assert_eq!(
        res.write(9, "stale").unwrap(),
        FencedWrite::Rejected { highest: 10 }
    );
    assert_eq!(res.read().unwrap().as_deref(), Some("c"));
    assert_eq!(res.highest().unwrap(), 10);

    // A server that lost its script cache: the resource reloads and goes on.
    let mut c = conn();
    c.call_str(&["SCRIPT", "FLUSH"]).expect("SCRIPT FLUSH");
    assert_eq!(res.write(11, "d").unwrap(), FencedWrite::Accepted);
}
