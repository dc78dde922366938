//! Seeds replay exactly, and a simulated client's machine becomes a conformance
//! vector that the runner replays.

use fencelock_sim::profile::Profile;
use fencelock_sim::world::{describe, Options};
use fencelock_sim::{run_seed, vector};

/// Redlock and etcd profiles whose seeds must replay exactly.
const REPLAYED: [&str; 8] = [
    "all",
    "expiry-chaos",
    "pauses-long",
    "restarts-amnesia",
    "etcd-all",
    "etcd-network",
    "etcd-leader-change",
    "etcd-pauses-long",
];

#[test]
fn the_same_seed_replays_the_same_trace() {
    for name in REPLAYED {
        let profile = Profile::named(name).unwrap();
        for seed in [1, 7, 42] {
            let options = Options {
                trace: true,
                vector: None,
            };
            let a = run_seed(&profile, seed, &options);
            let b = run_seed(&profile, seed, &options);
            assert_eq!(describe(&a.report), describe(&b.report));
            assert_eq!(a.trace, b.trace, "{name} seed {seed}");
            assert!(a.trace.unwrap().len() > 100);
        }
    }
}

fn record(profile: &str, seed: u64, target: Option<(u16, u32)>) -> serde_json::Value {
    let profile = Profile::named(profile).unwrap();
    let target = target.or_else(|| run_seed(&profile, seed, &Options::default()).report.culprit);
    assert!(
        target.is_some(),
        "{} seed {seed} has no finding",
        profile.name
    );
    let run = run_seed(
        &profile,
        seed,
        &Options {
            trace: false,
            vector: target,
        },
    );
    vector::build(
        "redlock",
        "Simulated client, every input and output",
        &run.record,
    )
    .expect("the client ran that cycle")
}

#[test]
fn a_simulated_client_becomes_a_vector_that_replays() {
    let dir = std::env::temp_dir().join(format!("fencelock-sim-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("network", 3, Some((0, 2))),
        ("all", 11, Some((1, 1))),
        // The lease of the first finding of a failing seed.
        ("pauses-long", 0, None),
        ("restarts-amnesia", 13, None),
    ];
    for (profile, seed, target) in cases {
        let vector = record(profile, seed, target);
        let path = dir.join(format!("{}_{seed}.json", profile.replace('-', "_")));
        std::fs::write(&path, serde_json::to_string_pretty(&vector).unwrap()).unwrap();
        let read: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let steps = vector::replay(&read).unwrap_or_else(|e| panic!("{profile} {seed}: {e}"));
        assert!(steps > 0, "{profile} {seed}: an empty story");
    }
    // A changed expectation must fail the replay.
    let mut broken = record("network", 3, Some((0, 2)));
    broken["steps"][0]["expect"]["state"] = serde_json::json!("released");
    broken["steps"][0]["expect"]["outputs"] = serde_json::json!([]);
    assert!(vector::replay(&broken).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
