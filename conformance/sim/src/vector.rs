//! Turning one simulated client's machine into a conformance vector, and a
//! runner that replays Redlock and etcd (mutex, election) vectors by the rules of
//! `conformance/README.md`.

use fencelock_core::etcd::{self, ElectionArgs, EtcdConfig, MutexArgs};
use fencelock_core::redlock::{AcquireArgs, Redlock, RedlockConfig};
use fencelock_core::{ConfigError, Machine};
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

/// What the runner needs from a machine besides [`Machine`]: its state name, and
/// the getters its vectors may check.
trait Subject: Machine {
    /// Getter expectations beyond `outputs`, `timeout`, `state` and `error`.
    const VIEWS: &'static [&'static str];
    fn state_name(&self) -> &'static str;
    fn view(&self) -> Value;
    fn input(json: &Value) -> Result<Self::Input, String>;
    fn output(output: &Self::Output) -> Value;
}

macro_rules! json_io {
    () => {
        fn input(json: &Value) -> Result<Self::Input, String> {
            serde_json::from_value(json.clone()).map_err(|e| e.to_string())
        }
        fn output(output: &Self::Output) -> Value {
            serde_json::to_value(output).expect("output serializes")
        }
    };
}

impl Subject for Redlock {
    const VIEWS: &'static [&'static str] = &["lease"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self) -> Value {
        serde_json::to_value(self.lease()).expect("lease serializes")
    }
    json_io!();
}

impl Subject for etcd::Mutex {
    const VIEWS: &'static [&'static str] = &["lock"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self) -> Value {
        serde_json::to_value(self.lock()).expect("lock serializes")
    }
    json_io!();
}

impl Subject for etcd::Election {
    const VIEWS: &'static [&'static str] = &["lock"];
    fn state_name(&self) -> &'static str {
        self.state().name()
    }
    fn view(&self) -> Value {
        serde_json::to_value(self.lock()).expect("lock serializes")
    }
    json_io!();
}

fn drain<M: Subject>(machine: &mut M) -> Vec<Value> {
    std::iter::from_fn(|| machine.poll_output())
        .map(|output| M::output(&output))
        .collect()
}

fn check<M: Subject>(
    step: &str,
    expect: &Value,
    outputs: Vec<Value>,
    machine: &M,
) -> Result<(), String> {
    for key in expect.as_object().into_iter().flat_map(|o| o.keys()) {
        if !["outputs", "timeout", "state", "error"].contains(&key.as_str())
            && !M::VIEWS.contains(&key.as_str())
        {
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
        if &json!(machine.state_name()) != expected {
            return Err(format!("{step}: state differs"));
        }
    }
    for view in M::VIEWS {
        if let Some(expected) = expect.get(*view) {
            if &machine.view() != expected {
                return Err(format!("{step}: {view} differs"));
            }
        }
    }
    Ok(())
}

macro_rules! parse {
    ($vector:expr, $what:literal) => {
        serde_json::from_value($vector[$what].clone()).map_err(|e| format!("{}: {e}", $what))
    };
}

/// The runner every machine shares: build, check `expect_init`, then apply each
/// step's input and check its expectations (a rejected input must leave the
/// machine unchanged and silent).
fn run<M: Subject>(
    vector: &Value,
    build: impl FnOnce() -> Result<Result<M, ConfigError>, String>,
) -> Result<usize, String> {
    let expect_init = &vector["expect_init"];
    let mut machine = match build()? {
        Ok(_) if expect_init.get("error").is_some() => {
            return Err(format!("expected config error {}", expect_init["error"]));
        }
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
        let input = M::input(&step["input"]).map_err(|e| format!("{label}: bad input: {e}"))?;
        let expect = &step["expect"];
        let before = (machine.state_name(), machine.poll_timeout());
        match machine.handle_input(input) {
            Ok(()) if expect.get("error").is_some() => {
                return Err(format!("{label}: expected error {}", expect["error"]));
            }
            Ok(()) => {}
            Err(error) => {
                if expect.get("error") != Some(&json!(error.code())) {
                    return Err(format!("{label}: unexpected error {error}"));
                }
                if before != (machine.state_name(), machine.poll_timeout())
                    || !drain(&mut machine).is_empty()
                {
                    return Err(format!("{label}: a rejected input changed the machine"));
                }
            }
        }
        let outputs = drain(&mut machine);
        check(&label, expect, outputs, &machine)?;
    }
    Ok(steps.len())
}

/// Replays one vector (`redlock`, `etcd_mutex` or `etcd_election`) through the
/// core; `Ok` gives the number of steps, `Err` says which step differs.
pub fn replay(vector: &Value) -> Result<usize, String> {
    match vector["machine"].as_str() {
        Some("redlock") => run(vector, || {
            let config: RedlockConfig = parse!(vector, "config")?;
            let args: AcquireArgs = parse!(vector, "init")?;
            Ok(Redlock::new(&config, args))
        }),
        Some("etcd_mutex") => run(vector, || {
            let config: EtcdConfig = parse!(vector, "config")?;
            let args: MutexArgs = parse!(vector, "init")?;
            Ok(etcd::Mutex::new(&config, args))
        }),
        Some("etcd_election") => run(vector, || {
            let config: EtcdConfig = parse!(vector, "config")?;
            let args: ElectionArgs = parse!(vector, "init")?;
            Ok(etcd::Election::new(&config, args))
        }),
        _ => Err(format!("unknown machine {}", vector["machine"])),
    }
}
