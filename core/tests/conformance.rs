//! Runs every conformance vector in `conformance/vectors` through the core.
//!
//! A machine vector is a story: a machine built from `config` + `init`, then
//! `steps`, each one input and the expectations after it. Keys left out of an
//! `expect` are not checked; listed `outputs` must match exactly and in order.
//! One generic driver runs every machine; each machine only says how it is built
//! and which getters its vectors may check. A codec vector (`"codec"`) lists
//! request / response pairs for a wire codec.
//!
//! With the `lean-json` feature every machine vector runs twice: once through
//! serde, once through the serde-free codec (`fencelock_core::json`), whose
//! output text must also equal serde_json's byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{self, EtcdConfig};
#[cfg(feature = "lean-json")]
use fencelock_core::json::{from_json, to_json, FromJson, ToJson};
use fencelock_core::redlock::{Redlock, RedlockConfig};
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use fencelock_core::{ConfigError, Machine};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Which JSON codec reads the vector's values and writes the machine's.
#[derive(Clone, Copy, Debug)]
enum Codec {
    Serde,
    #[cfg(feature = "lean-json")]
    Lean,
}

/// A vocabulary type: readable and writable by every codec under test.
#[cfg(feature = "lean-json")]
trait Vocab: DeserializeOwned + Serialize + FromJson + ToJson {}
#[cfg(feature = "lean-json")]
impl<T: DeserializeOwned + Serialize + FromJson + ToJson> Vocab for T {}
/// A vocabulary type: readable and writable by every codec under test.
#[cfg(not(feature = "lean-json"))]
trait Vocab: DeserializeOwned + Serialize {}
#[cfg(not(feature = "lean-json"))]
impl<T: DeserializeOwned + Serialize> Vocab for T {}

/// A getter's value written by a codec (the lean one must write serde's text).
trait Writable: Serialize {
    #[cfg(feature = "lean-json")]
    fn lean(&self) -> String;
}
#[cfg(feature = "lean-json")]
impl<T: Serialize + ToJson + ?Sized> Writable for T {
    fn lean(&self) -> String {
        to_json(self)
    }
}
#[cfg(not(feature = "lean-json"))]
impl<T: Serialize + ?Sized> Writable for T {}

fn write<T: Writable + ?Sized>(codec: Codec, value: &T) -> Value {
    match codec {
        Codec::Serde => serde_json::to_value(value).unwrap(),
        #[cfg(feature = "lean-json")]
        Codec::Lean => {
            let text = value.lean();
            assert_eq!(
                text,
                serde_json::to_string(value).unwrap(),
                "lean codec text differs"
            );
            serde_json::from_str(&text).unwrap()
        }
    }
}

fn vector_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What the driver needs from a machine besides the [`Machine`] trait.
trait Subject: Machine {
    /// The state's JSON name.
    fn state_name(&self) -> &'static str;
    /// Getter expectations this machine's vectors may use, beyond `outputs`,
    /// `timeout`, `state` and `error`.
    const VIEWS: &'static [&'static str];
    /// The getter named `key`, as JSON written by `codec`.
    fn view(&self, key: &str, codec: Codec) -> Value;
}

impl Subject for Redlock {
    const VIEWS: &'static [&'static str] = &["lease"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self, _key: &str, codec: Codec) -> Value {
        write(codec, &self.lease())
    }
}

macro_rules! etcd_lock_subject {
    ($machine:ty) => {
        impl Subject for $machine {
            const VIEWS: &'static [&'static str] = &["lock"];
            fn state_name(&self) -> &'static str {
                self.state().name()
            }
            fn view(&self, _key: &str, codec: Codec) -> Value {
                write(codec, &self.lock())
            }
        }
    };
}
etcd_lock_subject!(etcd::Mutex);
etcd_lock_subject!(etcd::Election);
// The same shape: a `lock` getter.
etcd_lock_subject!(zookeeper::Lock);
etcd_lock_subject!(zookeeper::Election);
etcd_lock_subject!(advisory::Lock);

impl Subject for etcd::Observer {
    const VIEWS: &'static [&'static str] = &["leader"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self, _key: &str, codec: Codec) -> Value {
        write(codec, &self.leader())
    }
}

/// Compares the expectations of one step (or of the machine's start).
fn check<M: Subject>(
    codec: Codec,
    name: &str,
    step: &str,
    expect: &Value,
    outputs: Vec<Value>,
    machine: &M,
) {
    for key in expect.as_object().into_iter().flat_map(|o| o.keys()) {
        assert!(
            ["outputs", "timeout", "state", "error"].contains(&key.as_str())
                || M::VIEWS.contains(&key.as_str()),
            "{name} {step}: unknown expectation {key:?}"
        );
    }
    if let Some(expected) = expect.get("outputs") {
        assert_eq!(
            &Value::Array(outputs),
            expected,
            "{name} {step}: outputs differ"
        );
    }
    if let Some(expected) = expect.get("timeout") {
        let timeout = machine.poll_timeout().map(|m| m.0);
        assert_eq!(&json!(timeout), expected, "{name} {step}: timeout differs");
    }
    if let Some(expected) = expect.get("state") {
        assert_eq!(
            &json!(machine.state_name()),
            expected,
            "{name} {step}: state differs"
        );
    }
    for view in M::VIEWS {
        if let Some(expected) = expect.get(*view) {
            assert_eq!(
                &machine.view(view, codec),
                expected,
                "{name} {step}: {view} differs"
            );
        }
    }
}

fn drain<M: Machine>(codec: Codec, machine: &mut M) -> Vec<Value>
where
    M::Output: Vocab,
{
    std::iter::from_fn(|| machine.poll_output())
        .map(|output| write(codec, &output))
        .collect()
}

fn parse<T: DeserializeOwned>(name: &str, what: &str, value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: bad {what}: {e}"))
}

fn read<T: Vocab>(codec: Codec, name: &str, what: &str, value: &Value) -> T {
    match codec {
        Codec::Serde => parse(name, what, value),
        #[cfg(feature = "lean-json")]
        Codec::Lean => {
            let lean: T = from_json(&value.to_string())
                .unwrap_or_else(|e| panic!("{name}: lean codec: bad {what}: {e}"));
            assert_eq!(
                serde_json::to_value(&lean).unwrap(),
                serde_json::to_value(parse::<T>(name, what, value)).unwrap(),
                "{name}: {what} read differently by the two codecs"
            );
            lean
        }
    }
}

/// The driver every machine shares: build, check `expect_init`, then apply each
/// step's input and check its expectations.
fn run<M>(
    codec: Codec,
    name: &str,
    vector: &Value,
    build: impl FnOnce(&Value, &Value) -> Result<M, ConfigError>,
) where
    M: Subject,
    M::Input: Vocab,
    M::Output: Vocab,
{
    let expect_init = &vector["expect_init"];
    let mut machine = match build(&vector["config"], &vector["init"]) {
        Ok(machine) => {
            assert!(
                expect_init.get("error").is_none(),
                "{name}: expected config error {}, got a machine",
                expect_init["error"]
            );
            machine
        }
        Err(error) => {
            assert_eq!(
                expect_init.get("error"),
                Some(&json!(error.code())),
                "{name}: unexpected config error {error}"
            );
            return;
        }
    };
    let outputs = drain(codec, &mut machine);
    check(codec, name, "init", expect_init, outputs, &machine);
    let steps = vector["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, step) in steps.iter().enumerate() {
        let label = format!("step {}", i + 1);
        let input: M::Input = read(codec, name, &format!("{label} input"), &step["input"]);
        let expect = &step["expect"];
        let before = (machine.state_name(), machine.poll_timeout());
        match machine.handle_input(input) {
            Ok(()) => assert!(
                expect.get("error").is_none(),
                "{name} {label}: expected error {}, got Ok",
                expect["error"]
            ),
            Err(error) => {
                assert_eq!(
                    expect.get("error"),
                    Some(&json!(error.code())),
                    "{name} {label}: unexpected error {error}"
                );
                // A rejected input leaves the machine unchanged and says nothing.
                assert_eq!(before, (machine.state_name(), machine.poll_timeout()));
                assert_eq!(
                    drain(codec, &mut machine),
                    Vec::<Value>::new(),
                    "{name} {label}"
                );
            }
        }
        let outputs = drain(codec, &mut machine);
        check(codec, name, &label, expect, outputs, &machine);
    }
}

fn run_machine(codec: Codec, name: &str, machine: &str, vector: &Value) {
    macro_rules! build {
        ($config:ty, $machine:expr) => {
            run(codec, name, vector, |config, init| {
                let config: $config = read(codec, name, "config", config);
                $machine(&config, read(codec, name, "init", init))
            })
        };
    }
    match machine {
        "redlock" => build!(RedlockConfig, Redlock::new),
        "etcd_mutex" => build!(EtcdConfig, etcd::Mutex::new),
        "etcd_election" => build!(EtcdConfig, etcd::Election::new),
        "etcd_observer" => build!(EtcdConfig, etcd::Observer::new),
        "zookeeper_lock" => build!(ZooKeeperConfig, zookeeper::Lock::new),
        "zookeeper_election" => build!(ZooKeeperConfig, zookeeper::Election::new),
        "advisory_lock" => build!(AdvisoryConfig, advisory::Lock::new),
        other => panic!("{name}: unknown machine {other:?}"),
    }
}

/// A codec vector: each case encodes a command (`request`), decodes a response
/// body (`reply` or `error`), or decodes a watch stream line.
#[cfg(feature = "etcd-gateway")]
fn run_etcd_gateway(name: &str, vector: &Value) {
    use fencelock_core::etcd::Command;
    use fencelock_core::wire::etcd_gateway::{decode, decode_watch_line, encode};

    let cases = vector["cases"].as_array().expect("cases");
    for (i, case) in cases.iter().enumerate() {
        let label = format!("{name} case {}", i + 1);
        let outcome = if let Some(line) = case.get("watch_line") {
            let line = line.as_str().expect("watch_line is a string");
            decode_watch_line(line.as_bytes()).map(|reply| serde_json::to_value(reply).unwrap())
        } else {
            let command: Command = parse(&label, "command", &case["command"]);
            if let Some(expected) = case.get("request") {
                let request = encode(&command);
                let actual = request.map(|r| {
                    let body: Value = serde_json::from_str(&r.body).expect("encoder writes JSON");
                    // Compact, members in key order (as a JSON map writes them).
                    assert_eq!(r.body, body.to_string(), "{label}: body text");
                    json!({ "path": r.path, "body": body })
                });
                assert_eq!(&json!(actual), expected, "{label}: request differs");
            }
            let Some(response) = case.get("response") else {
                continue;
            };
            let body = response.as_str().expect("response is the raw body text");
            decode(&command, body.as_bytes()).map(|reply| serde_json::to_value(reply).unwrap())
        };
        match (outcome, case.get("reply"), case.get("error")) {
            (Ok(actual), Some(expected), None) => {
                assert_eq!(&actual, expected, "{label}: reply differs");
            }
            (Err(error), None, Some(code)) => {
                assert_eq!(&json!(error.code()), code, "{label}: {error}");
            }
            (outcome, reply, error) => {
                panic!("{label}: got {outcome:?}, expected reply {reply:?} / error {error:?}")
            }
        }
    }
}

#[cfg(not(feature = "etcd-gateway"))]
fn run_etcd_gateway(name: &str, _vector: &Value) {
    panic!("{name}: fencelock-core was built without the etcd-gateway feature");
}

#[test]
fn every_vector_passes() {
    let files = vector_files();
    assert!(!files.is_empty(), "no vectors found");
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(path).unwrap();
        let vector: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"));
        let kind = if let Some(codec) = vector["codec"].as_str() {
            match codec {
                "etcd_gateway" => run_etcd_gateway(&name, &vector),
                other => panic!("{name}: unknown codec {other:?}"),
            }
            codec.to_owned()
        } else {
            let machine = vector["machine"].as_str().unwrap_or_default().to_owned();
            run_machine(Codec::Serde, &name, &machine, &vector);
            #[cfg(feature = "lean-json")]
            {
                run_machine(Codec::Lean, &name, &machine, &vector);
                *counts.entry(format!("{machine} (lean codec)")).or_default() += 1;
            }
            machine
        };
        *counts.entry(kind).or_default() += 1;
    }
    println!("vectors run: {counts:?}");
}
