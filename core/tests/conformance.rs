//! Runs every conformance vector in `conformance/vectors` through the core.
//!
//! A vector is a story: a machine built from `config` + `init`, then `steps`,
//! each one input and the expectations after it. Keys left out of an `expect`
//! are not checked; listed `outputs` must match exactly and in order.

use std::fs;
use std::path::{Path, PathBuf};

use fencelock_core::redlock::{AcquireArgs, Input, Redlock, RedlockConfig};
use fencelock_core::Machine;
use serde_json::{json, Value};

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

/// Compares the expectations of one step (or of the machine's start).
fn check(name: &str, step: &str, expect: &Value, outputs: Vec<Value>, machine: &Redlock) {
    for key in expect.as_object().into_iter().flat_map(|o| o.keys()) {
        assert!(
            ["outputs", "timeout", "state", "lease", "error"].contains(&key.as_str()),
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
            &json!(machine.state().name()),
            expected,
            "{name} {step}: state differs"
        );
    }
    if let Some(expected) = expect.get("lease") {
        assert_eq!(
            &serde_json::to_value(machine.lease()).unwrap(),
            expected,
            "{name} {step}: lease differs"
        );
    }
}

fn drain(machine: &mut Redlock) -> Vec<Value> {
    std::iter::from_fn(|| machine.poll_output())
        .map(|output| serde_json::to_value(output).unwrap())
        .collect()
}

fn run_redlock(name: &str, vector: &Value) {
    let config: RedlockConfig = serde_json::from_value(vector["config"].clone())
        .unwrap_or_else(|e| panic!("{name}: bad config: {e}"));
    let args: AcquireArgs = serde_json::from_value(vector["init"].clone())
        .unwrap_or_else(|e| panic!("{name}: bad init: {e}"));
    let expect_init = &vector["expect_init"];
    let mut machine = match Redlock::new(&config, args) {
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
    let outputs = drain(&mut machine);
    check(name, "init", expect_init, outputs, &machine);
    let steps = vector["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, step) in steps.iter().enumerate() {
        let label = format!("step {}", i + 1);
        let input: Input = serde_json::from_value(step["input"].clone())
            .unwrap_or_else(|e| panic!("{name} {label}: bad input: {e}"));
        let expect = &step["expect"];
        let before = (machine.state(), machine.poll_timeout());
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
                assert_eq!(before, (machine.state(), machine.poll_timeout()));
                assert_eq!(drain(&mut machine), Vec::<Value>::new(), "{name} {label}");
            }
        }
        let outputs = drain(&mut machine);
        check(name, &label, expect, outputs, &machine);
    }
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
        let machine = vector["machine"].as_str().unwrap_or_default().to_owned();
        match machine.as_str() {
            "redlock" => run_redlock(&name, &vector),
            other => panic!("{name}: unknown machine {other:?}"),
        }
        *counts.entry(machine).or_default() += 1;
    }
    println!("vectors run: {counts:?}");
}
