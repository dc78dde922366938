//! Turning one simulated client's machine into a conformance vector, and a
//! runner that replays Redlock vectors by the rules of `conformance/README.md`.

use fencelock_core::redlock::{AcquireArgs, Input, Redlock, RedlockConfig};
use fencelock_core::Machine;
use serde_json::{json, Value};

use crate::world::VectorRecord;

/// The vector JSON for a recorded machine, or `None` if nothing was recorded.
#[must_use]
pub fn build(machine: &str, description: &str, record: &VectorRecord) -> Option<Value> {
    let (config, init) = record.header.clone()?;
    Some(json!({
        "machine": machine,
        "description": description,
        "config": config,
        "init": init,
        "expect_init": record.init.clone()?,
        "steps": record.steps,
    }))
}

fn drain(machine: &mut Redlock) -> Vec<Value> {
    std::iter::from_fn(|| machine.poll_output())
        .map(|output| serde_json::to_value(output).expect("output serializes"))
        .collect()
}

fn check(step: &str, expect: &Value, outputs: Vec<Value>, machine: &Redlock) -> Result<(), String> {
    for key in expect.as_object().into_iter().flat_map(|o| o.keys()) {
        if !["outputs", "timeout", "state", "lease", "error"].contains(&key.as_str()) {
            return Err(format!("{step}: unknown expectation {key:?}"));
        }
    }
    if let Some(expected) = expect.get("outputs") {
        if &Value::Array(outputs) != expected {
            return Err(format!("{step}: outputs differ"));
        }
    }
    if let Some(expected) = expect.get("timeout") {
        if &json!(machine.poll_timeout().map(|m| m.0)) != expected {
            return Err(format!("{step}: timeout differs"));
        }
    }
    if let Some(expected) = expect.get("state") {
        if &json!(machine.state().name()) != expected {
            return Err(format!("{step}: state differs"));
        }
    }
    if let Some(expected) = expect.get("lease") {
        if &serde_json::to_value(machine.lease()).expect("lease serializes") != expected {
            return Err(format!("{step}: lease differs"));
        }
    }
    Ok(())
}

/// Replays one Redlock vector through the core; `Err` says which step differs.
pub fn replay(vector: &Value) -> Result<usize, String> {
    if vector["machine"] != "redlock" {
        return Err(format!("unknown machine {}", vector["machine"]));
    }
    let config: RedlockConfig =
        serde_json::from_value(vector["config"].clone()).map_err(|e| format!("config: {e}"))?;
    let args: AcquireArgs =
        serde_json::from_value(vector["init"].clone()).map_err(|e| format!("init: {e}"))?;
    let expect_init = &vector["expect_init"];
    let mut machine = match Redlock::new(&config, args) {
        Ok(machine) => machine,
        Err(error) => {
            return if expect_init.get("error") == Some(&json!(error.code())) {
                Ok(0)
            } else {
                Err(format!("unexpected config error {error}"))
            };
        }
    };
    let outputs = drain(&mut machine);
    check("init", expect_init, outputs, &machine)?;
    let steps = vector["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, step) in steps.iter().enumerate() {
        let label = format!("step {}", i + 1);
        let input: Input = serde_json::from_value(step["input"].clone())
            .map_err(|e| format!("{label}: bad input: {e}"))?;
        let expect = &step["expect"];
        match machine.handle_input(input) {
            Ok(()) if expect.get("error").is_some() => {
                return Err(format!("{label}: expected error {}", expect["error"]));
            }
            Ok(()) => {}
            Err(error) => {
                if expect.get("error") != Some(&json!(error.code())) {
                    return Err(format!("{label}: unexpected error {error}"));
                }
            }
        }
        let outputs = drain(&mut machine);
        check(&label, expect, outputs, &machine)?;
    }
    Ok(steps.len())
}
