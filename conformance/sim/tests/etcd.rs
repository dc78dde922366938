//! etcd in the simulator (that seeds replay exactly is checked in `replay.rs`): a
//! simulated etcd client's machine becomes a conformance vector that the runner
//! replays, and the etcd profiles behave as documented.

use fencelock_sim::profile::{Backend, Check, Profile};
use fencelock_sim::world::Options;
use fencelock_sim::{run_profile, run_seed, vector};

/// Records client `c`'s cycle `k` of `profile` / `seed` as a vector.
fn record(profile: &Profile, seed: u64, target: (u16, u32)) -> Option<serde_json::Value> {
    let run = run_seed(
        profile,
        seed,
        &Options {
            trace: false,
            vector: Some(target),
        },
    );
    vector::build(run.machine, "Simulated etcd client", &run.record)
}

fn commands(vector: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    let steps = vector["steps"].as_array().unwrap();
    let outputs = std::iter::once(&vector["expect_init"]).chain(steps.iter().map(|s| &s["expect"]));
    for expect in outputs {
        for output in expect["outputs"].as_array().into_iter().flatten() {
            if let Some(kind) = output["command"]["type"].as_str() {
                found.push(kind.to_owned());
            }
            if let Some(kind) = output["event"]["type"].as_str() {
                found.push(format!("event:{kind}"));
            }
        }
    }
    found
}

#[test]
fn simulated_etcd_clients_become_vectors_that_replay() {
    let dir = std::env::temp_dir().join(format!("fencelock-sim-etcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut replayed = 0;
    for (name, seed) in [
        ("etcd-none", 3),
        ("etcd-network", 5),
        ("etcd-all", 11),
        ("etcd-leader-change", 2),
    ] {
        let profile = Profile::named(name).unwrap();
        for c in 0..3 {
            for k in 1..4 {
                let Some(vector) = record(&profile, seed, (c, k)) else {
                    continue;
                };
                let path = dir.join(format!("{}_{seed}_{c}_{k}.json", name.replace('-', "_")));
                std::fs::write(&path, serde_json::to_string_pretty(&vector).unwrap()).unwrap();
                let read: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let steps = vector::replay(&read)
                    .unwrap_or_else(|e| panic!("{name} seed {seed} client {c} cycle {k}: {e}"));
                assert!(steps > 0, "{name} {seed}: an empty story");
                seen.extend(commands(&read));
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 20, "only {replayed} vectors");
    // The stories cover the whole protocol: grant, acquire txn, the wait (watch
    // and cancel, or polling reads), keep-alives, the guarded delete, the revoke.
    for kind in [
        "lease_grant",
        "txn",
        "range",
        "watch",
        "cancel_watch",
        "lease_keep_alive",
        "lease_revoke",
        "event:acquired",
        "event:released",
    ] {
        assert!(seen.contains(kind), "no vector has {kind}: {seen:?}");
    }
    // The lease of the first finding of a failing seed (a paused holder), and an
    // election campaign.
    for (name, seed) in [("etcd-pauses-long", 0), ("etcd-election", 3)] {
        let profile = Profile::named(name).unwrap();
        let target = run_seed(&profile, seed, &Options::default())
            .report
            .culprit
            .filter(|(_, k)| *k > 0)
            .unwrap_or((0, 1));
        let vector = record(&profile, seed, target).expect("the client ran that cycle");
        assert!(vector::replay(&vector).unwrap() > 0, "{name} {seed}");
        if name == "etcd-election" {
            assert_eq!(vector["machine"], "etcd_election");
        }
    }
    // A changed expectation must fail the replay.
    let profile = Profile::named("etcd-none").unwrap();
    let mut broken = record(&profile, 3, (0, 1)).unwrap();
    broken["steps"][0]["expect"]["state"] = serde_json::json!("released");
    assert!(vector::replay(&broken).is_err());
    let mut broken = record(&profile, 3, (0, 1)).unwrap();
    broken["steps"][0]["expect"]["lock"] = serde_json::json!({"token": 1});
    assert!(vector::replay(&broken).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn etcd_profiles_that_keep_the_assumptions_stay_clean() {
    for profile in Profile::of(Backend::Etcd) {
        if !profile.keeps_assumptions {
            continue;
        }
        let summary = run_profile(&profile, 0, 150, 2);
        assert!(
            summary.unexpected(&profile).is_empty(),
            "{}: {:?}",
            profile.name,
            summary.failures.first().map(|(_, r)| &r.findings)
        );
        assert!(summary.acquired > 1_000, "{}: too few holds", profile.name);
    }
}

#[test]
fn etcd_profiles_that_break_an_assumption_show_their_known_failure() {
    let fenced = run_profile(&Profile::named("etcd-pauses-long").unwrap(), 0, 150, 2);
    assert!(fenced.fired(Check::Mutex) > 0, "no holder overlapped");
    assert_eq!(fenced.fired(Check::Fencing), 0);
    assert_eq!(fenced.fired(Check::StaleAccepted), 0);
    assert!(
        fenced.rejected > 0,
        "the resource never rejected a paused holder"
    );
    let unfenced = run_profile(
        &Profile::named("etcd-pauses-long-nofence").unwrap(),
        0,
        150,
        2,
    );
    assert!(unfenced.fired(Check::Mutex) > 0);
    assert!(
        unfenced.fired(Check::StaleAccepted) > 0,
        "without tokens a paused holder's late write must get through"
    );
    // A fast or jumping leader clock expires leases early: (b), never (a).
    let beyond = run_profile(&Profile::named("etcd-clocks-beyond").unwrap(), 0, 150, 2);
    assert!(beyond.fired(Check::Mutex) > 0);
    assert_eq!(beyond.fired(Check::Fencing), 0);
    assert_eq!(beyond.fired(Check::Regression), 0);
}

#[test]
fn poll_mode_waiters_with_deadlines_do_not_starve() {
    // Every acquisition polls and has a deadline of a few poll intervals, so a
    // waiter's predecessor is often a waiter that gives up at its own deadline.
    // Without the machine's last look at the deadline the waiters gave up one
    // behind the other while the lock was free (246 of 20,000 seeds fired (c)).
    let polled = run_profile(&Profile::named("etcd-poll-deadline").unwrap(), 0, 400, 2);
    for check in Check::ALL {
        assert_eq!(polled.fired(check), 0, "{}", check.name());
    }
}
