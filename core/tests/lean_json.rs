//! The serde-free codec (`fencelock_core::json`, feature `lean-json`) against
//! serde: every config, init and input of the conformance vectors, and many
//! mutations of each (a key removed, set to null, to a fraction, to a negative
//! number, to a string, to an integer beyond 64 bits, an unknown key added),
//! must be accepted by both with the same value or refused by both. (serde
//! also reads a record written as an array of its field values; the lean codec
//! refuses that shape, which is not in the vocabulary, so the mutations never
//! put an array where a record belongs.)
#![cfg(feature = "lean-json")]

use std::fs;
use std::path::{Path, PathBuf};

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{self, EtcdConfig};
use fencelock_core::json::{from_json, to_json, FromJson, ToJson, MAX_DEPTH};
use fencelock_core::redlock::{self, AcquireArgs, RedlockConfig};
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn machine_vectors() -> Vec<(String, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in fs::read_dir(&root).unwrap() {
        for file in fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let vector: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            vector.get("machine")?;
            Some((path.file_name()?.to_string_lossy().into_owned(), vector))
        })
        .collect()
}

/// Both codecs read `text` as `T`: the same value, or both refuse it. Returns
/// whether it was accepted.
fn agree<T>(what: &str, text: &str) -> bool
where
    T: DeserializeOwned + Serialize + FromJson + ToJson,
{
    let by_serde = serde_json::from_str::<T>(text);
    let lean = from_json::<T>(text);
    match (&by_serde, &lean) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::to_value(b).unwrap(),
                "{what}: read differently: {text}"
            );
            assert_eq!(
                to_json(b),
                serde_json::to_string(a).unwrap(),
                "{what}: written differently"
            );
            true
        }
        (Err(_), Err(e)) => {
            assert_eq!(e.code(), "INVALID_INPUT");
            false
        }
        _ => panic!(
            "{what}: serde {} and the lean codec {} disagree on {text}",
            if by_serde.is_ok() {
                "accepts"
            } else {
                "refuses"
            },
            if lean.is_ok() { "accepts" } else { "refuses" },
        ),
    }
}

/// `value` and mutations of it at every object key, at any depth.
fn mutations(value: &Value) -> Vec<Value> {
    let replacements = [
        Value::Null,
        json!(1.5),
        json!(-1),
        json!("x"),
        json!(true),
        json!({}),
        serde_json::from_str("18446744073709551616").unwrap(),
        json!(u64::MAX),
        json!(i64::MIN),
    ];
    let mut out = vec![value.clone()];
    match value {
        Value::Object(map) => {
            let mut extra = map.clone();
            extra.insert("zz_unknown".into(), json!(1));
            out.push(Value::Object(extra));
            for (key, inner) in map {
                let mut without = map.clone();
                without.remove(key);
                out.push(Value::Object(without));
                for replacement in &replacements {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), replacement.clone());
                    out.push(Value::Object(changed));
                }
                for nested in mutations(inner).into_iter().skip(1) {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), nested);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                for nested in mutations(inner).into_iter().skip(1) {
                    let mut changed = items.clone();
                    changed[i] = nested;
                    out.push(Value::Array(changed));
                }
            }
        }
        _ => {}
    }
    out
}

fn agree_all<T>(what: &str, value: &Value) -> (usize, usize)
where
    T: DeserializeOwned + Serialize + FromJson + ToJson,
{
    let (mut accepted, mut refused) = (0, 0);
    for mutated in mutations(value) {
        if agree::<T>(what, &mutated.to_string()) {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    (accepted, refused)
}

#[test]
fn both_codecs_agree_on_every_vector_value_and_its_mutations() {
    let (mut accepted, mut refused) = (0, 0);
    for (name, vector) in machine_vectors() {
        let machine = vector["machine"].as_str().unwrap();
        let mut tally = |(a, r): (usize, usize)| {
            accepted += a;
            refused += r;
        };
        let (config, init) = (&vector["config"], &vector["init"]);
        let inputs = vector["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["input"]);
        macro_rules! each {
            ($config:ty, $init:ty, $input:ty) => {{
                tally(agree_all::<$config>(&format!("{name} config"), config));
                tally(agree_all::<$init>(&format!("{name} init"), init));
                for (i, input) in inputs.enumerate() {
                    tally(agree_all::<$input>(
                        &format!("{name} step {}", i + 1),
                        input,
                    ));
                }
            }};
        }
        match machine {
            "redlock" => each!(RedlockConfig, AcquireArgs, redlock::Input),
            "etcd_mutex" => each!(EtcdConfig, etcd::MutexArgs, etcd::Input),
            "etcd_election" => each!(EtcdConfig, etcd::ElectionArgs, etcd::Input),
            "etcd_observer" => each!(EtcdConfig, etcd::ObserveArgs, etcd::Input),
            "zookeeper_lock" => each!(ZooKeeperConfig, zookeeper::LockArgs, zookeeper::Input),
            "zookeeper_election" => {
                each!(ZooKeeperConfig, zookeeper::ElectionArgs, zookeeper::Input)
            }
            "advisory_lock" => each!(AdvisoryConfig, advisory::LockArgs, advisory::Input),
            other => panic!("{name}: unknown machine {other}"),
        }
    }
    println!("mutations accepted by both: {accepted}, refused by both: {refused}");
    assert!(
        accepted > 1_000 && refused > 10_000,
        "{accepted} / {refused}"
    );
}

#[test]
fn malformed_text_is_refused_by_both() {
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let texts = [
        "",
        " ",
        "{",
        r#"{"type":"release","now":1200,}"#,
        r#"{"type":"release","now":1200} x"#,
        r#"{"type":"release","now":1200} // note"#,
        r#"{"type":"release","now":01200}"#,
        r#"{"type":"release","now":1200e0}"#,
        r#"{"type":"release","now":-0}"#,
        r#"{"type":"release","now":1e400}"#,
        r#"{"type":"release","now":1200,"now":1300}"#,
        r#"{"type":"rel\ud800ease","now":1200}"#,
        "{\"type\":\"rel\u{1}ease\",\"now\":1200}",
        r#"{"type":"release","now":"1200"}"#,
        r#"{'type':'release','now':1200}"#,
        r#"{"type":"nope","now":1200}"#,
        r#"{"now":1200}"#,
        deep.as_str(),
    ];
    for text in texts {
        assert!(
            !agree::<redlock::Input>("malformed", text),
            "accepted: {text}"
        );
    }
    // Escapes and non-ASCII text are read and written back as serde does.
    let text =
        r#"{"now":1000,"resources":["caf\u00e9 \"q\" \ud83d\ude00 \u0001 é"],"value":"v\n1"}"#;
    assert!(agree::<AcquireArgs>("escapes", text));
}

#[test]
fn shapes_outside_the_vocabulary_are_refused() {
    // A record as an array of its fields, a unit variant as a one-key object.
    for text in [
        r#"{"nodes":5,"ttl":10000,"retry":[]}"#,
        r#"{"nodes":5,"ttl":10000,"retry":{"backoff":{"fixed":null}}}"#,
        r#"[5,10000]"#,
    ] {
        let error = from_json::<RedlockConfig>(text).unwrap_err();
        assert_eq!(error.code(), "INVALID_INPUT", "{text}");
    }
}
