//! The core's machines as Python classes.
//!
//! [`PyMachine`] (`fencelock._native.Machine`) is one generic wrapper for every
//! machine this build knows, keyed by the vectors' `machine` name: it takes the
//! `config` and `init` dicts of a vector and speaks the vectors' input and output
//! dicts. Each machine also gets its own subclass (`RedlockMachine`, ...), which
//! may add a faster, machine-specific path for the high-level drivers.
//!
//! Adding a machine: implement [`JsonMachine`] for it, add one line to
//! [`MACHINES`], and (optionally) a subclass.

use std::any::Any;

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{self, EtcdConfig};
use fencelock_core::redlock::{
    AcquireArgs, Command, Input, NodeErrorKind, NodeReply, Output, Redlock, RedlockConfig, Script,
};
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use fencelock_core::{ConfigError, Machine, Millis, NodeId, RequestId, UsageError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::convert;
use crate::errors;

/// Why a machine call failed.
pub enum MachineError {
    /// A host value could not become a core value (`INVALID_INPUT`).
    Input(String),
    /// The machine refused the input (the core's usage code).
    Usage(UsageError),
    /// The machine could not be built (the core's config code).
    Config(ConfigError),
    /// The binding itself failed (never expected).
    Internal(String),
}

impl MachineError {
    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            MachineError::Input(message) => errors::invalid_input(py, message),
            MachineError::Usage(e) => errors::usage(py, &e),
            MachineError::Config(e) => errors::config(py, &e),
            MachineError::Internal(message) => errors::internal(message),
        }
    }
}

/// A core machine driven through JSON values, the conformance vocabulary.
pub trait JsonMachine: Send + Sync {
    /// Applies one input dict; on error the machine is unchanged.
    fn handle_input(&mut self, input: Value) -> Result<(), MachineError>;
    /// Next output as JSON; `None` once drained.
    fn poll_output(&mut self) -> Result<Option<Value>, MachineError>;
    /// When the host should next deliver a timeout input, in ms.
    fn poll_timeout(&self) -> Option<u64>;
    /// The state's name.
    fn state(&self) -> &'static str;
    /// The lease getter as JSON (`null` before acquisition, or for a machine
    /// without leases).
    fn lease(&self) -> Result<Value, MachineError> {
        Ok(self.getter("lease")?.unwrap_or(Value::Null))
    }
    /// A getter the vectors check, by name (`lease`, `lock`, `leader`, ...);
    /// `None` if this machine has no such getter.
    fn getter(&self, name: &str) -> Result<Option<Value>, MachineError>;
    /// Whether the machine will never act again.
    fn terminal(&self) -> bool;
    /// Validity left at `now` in ms (zero unless held), or `None` for a machine
    /// whose hold has no time limit (the advisory lock, the observer).
    fn remaining(&self, _now: u64) -> Option<u64> {
        None
    }
    /// End of validity of the hold in ms (moves on with renewals), or `None`
    /// before acquisition and for machines without one.
    fn valid_until(&self) -> Option<u64> {
        None
    }
    /// The etcd machines, typed (for the JSON-gateway fast path).
    fn as_etcd(&mut self) -> Option<&mut dyn Machine<Input = etcd::Input, Output = etcd::Output>> {
        None
    }
    /// For machine-specific fast paths.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// For machine-specific getters.
    fn as_any(&self) -> &dyn Any;
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, MachineError> {
    serde_json::from_value(value).map_err(|e| MachineError::Input(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, MachineError> {
    serde_json::to_value(value).map_err(|e| MachineError::Internal(e.to_string()))
}

impl JsonMachine for Redlock {
    fn handle_input(&mut self, input: Value) -> Result<(), MachineError> {
        let input: Input = from_json(input, "input")?;
        Machine::handle_input(self, input).map_err(MachineError::Usage)
    }

    fn poll_output(&mut self) -> Result<Option<Value>, MachineError> {
        Machine::poll_output(self).map(|o| to_json(&o)).transpose()
    }

    fn poll_timeout(&self) -> Option<u64> {
        Machine::poll_timeout(self).map(|m| m.0)
    }

    fn state(&self) -> &'static str {
        Redlock::state(self).name()
    }

    fn getter(&self, name: &str) -> Result<Option<Value>, MachineError> {
        match name {
            "lease" => to_json(&Redlock::lease(self)).map(Some),
            _ => Ok(None),
        }
    }

    fn terminal(&self) -> bool {
        Redlock::state(self).is_terminal()
    }

    fn remaining(&self, now: u64) -> Option<u64> {
        Some(Redlock::remaining(self, Millis(now)))
    }

    fn valid_until(&self) -> Option<u64> {
        Redlock::lease(self).map(|l| l.valid_until.0)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn build_redlock(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: RedlockConfig = from_json(config, "config")?;
    let init: AcquireArgs = from_json(init, "init")?;
    let machine = Redlock::new(&config, init).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

/// The methods every machine of the etcd, ZooKeeper and advisory modules shares
/// (`state`, a `lock`-like getter, `Machine`), as [`JsonMachine`].
macro_rules! json_machine {
    ($ty:ty, $getter:literal, $view:expr, $remaining:expr, $valid_until:expr, etcd) => {
        json_machine!(@impl $ty, $getter, $view, $remaining, $valid_until, {
            fn as_etcd(
                &mut self,
            ) -> Option<&mut dyn Machine<Input = etcd::Input, Output = etcd::Output>> {
                Some(self)
            }
        });
    };
    ($ty:ty, $getter:literal, $view:expr, $remaining:expr, $valid_until:expr) => {
        json_machine!(@impl $ty, $getter, $view, $remaining, $valid_until, {});
    };
    (@impl $ty:ty, $getter:literal, $view:expr, $remaining:expr, $valid_until:expr, { $($extra:tt)* }) => {
        impl JsonMachine for $ty {
            fn handle_input(&mut self, input: Value) -> Result<(), MachineError> {
                let input = from_json(input, "input")?;
                Machine::handle_input(self, input).map_err(MachineError::Usage)
            }

            fn poll_output(&mut self) -> Result<Option<Value>, MachineError> {
                Machine::poll_output(self).map(|o| to_json(&o)).transpose()
            }

            fn poll_timeout(&self) -> Option<u64> {
                Machine::poll_timeout(self).map(|m| m.0)
            }

            fn state(&self) -> &'static str {
                <$ty>::state(self).name()
            }

            fn getter(&self, name: &str) -> Result<Option<Value>, MachineError> {
                match name {
                    $getter => to_json(&$view(self)).map(Some),
                    _ => Ok(None),
                }
            }

            fn terminal(&self) -> bool {
                <$ty>::state(self).is_terminal()
            }

            fn remaining(&self, now: u64) -> Option<u64> {
                $remaining(self, now)
            }

            fn valid_until(&self) -> Option<u64> {
                $valid_until(self)
            }

            $($extra)*

            fn as_any_mut(&mut self) -> &mut dyn Any {
                self
            }

            fn as_any(&self) -> &dyn Any {
                self
            }
        }
    };
}

json_machine!(
    etcd::Mutex,
    "lock",
    |m: &etcd::Mutex| m.lock().cloned(),
    |m: &etcd::Mutex, now| Some(m.remaining(Millis(now))),
    |m: &etcd::Mutex| m.lock().map(|l| l.valid_until.0),
    etcd
);
json_machine!(
    etcd::Election,
    "lock",
    |m: &etcd::Election| m.lock().cloned(),
    |m: &etcd::Election, now| Some(m.remaining(Millis(now))),
    |m: &etcd::Election| m.lock().map(|l| l.valid_until.0),
    etcd
);
json_machine!(
    etcd::Observer,
    "leader",
    |m: &etcd::Observer| m.leader().map(|l| l.cloned()),
    |_: &etcd::Observer, _| None,
    |_: &etcd::Observer| None,
    etcd
);
json_machine!(
    zookeeper::Lock,
    "lock",
    |m: &zookeeper::Lock| m.lock().cloned(),
    |m: &zookeeper::Lock, now| Some(m.remaining(Millis(now))),
    |m: &zookeeper::Lock| m.lock().map(|_| m.valid_until().0)
);
json_machine!(
    zookeeper::Election,
    "lock",
    |m: &zookeeper::Election| m.lock().cloned(),
    |m: &zookeeper::Election, now| Some(m.remaining(Millis(now))),
    |m: &zookeeper::Election| m.lock().map(|_| m.valid_until().0)
);
json_machine!(
    advisory::Lock,
    "lock",
    |m: &advisory::Lock| m.lock().cloned(),
    |_: &advisory::Lock, _| None,
    |_: &advisory::Lock| None
);

fn build_etcd_mutex(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: EtcdConfig = from_json(config, "config")?;
    let machine =
        etcd::Mutex::new(&config, from_json(init, "init")?).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

fn build_etcd_election(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: EtcdConfig = from_json(config, "config")?;
    let machine =
        etcd::Election::new(&config, from_json(init, "init")?).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

fn build_etcd_observer(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: EtcdConfig = from_json(config, "config")?;
    let machine =
        etcd::Observer::new(&config, from_json(init, "init")?).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

fn build_zookeeper_lock(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: ZooKeeperConfig = from_json(config, "config")?;
    let machine =
        zookeeper::Lock::new(&config, from_json(init, "init")?).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

fn build_zookeeper_election(
    config: Value,
    init: Value,
) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: ZooKeeperConfig = from_json(config, "config")?;
    let machine = zookeeper::Election::new(&config, from_json(init, "init")?)
        .map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

fn build_advisory_lock(config: Value, init: Value) -> Result<Box<dyn JsonMachine>, MachineError> {
    let config: AdvisoryConfig = from_json(config, "config")?;
    let machine =
        advisory::Lock::new(&config, from_json(init, "init")?).map_err(MachineError::Config)?;
    Ok(Box::new(machine))
}

type Builder = fn(Value, Value) -> Result<Box<dyn JsonMachine>, MachineError>;

/// Every machine compiled into this module, by its vectors' `machine` name.
pub const MACHINES: &[(&str, Builder)] = &[
    ("redlock", build_redlock),
    ("etcd_mutex", build_etcd_mutex),
    ("etcd_election", build_etcd_election),
    ("etcd_observer", build_etcd_observer),
    ("zookeeper_lock", build_zookeeper_lock),
    ("zookeeper_election", build_zookeeper_election),
    ("advisory_lock", build_advisory_lock),
];

/// Checks that a value is a dict and converts it.
fn dict_value(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    if !obj.is_instance_of::<PyDict>() {
        let name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        return Err(errors::invalid_input(
            py,
            format!("{what} must be a dict, got {name}"),
        ));
    }
    convert::to_value(obj, what).map_err(|message| errors::invalid_input(py, message))
}

/// One core machine, built from a vector's `config` and `init` dicts.
///
/// `Machine(machine, config, init)`: `machine` is the vectors' machine name
/// (see `MACHINES`). Inputs and outputs are the vectors' dicts.
#[pyclass(module = "fencelock._native", name = "Machine", subclass)]
pub struct PyMachine {
    pub(crate) name: &'static str,
    pub(crate) inner: Box<dyn JsonMachine>,
}

/// What one fast-path call returns: `(commands, events, state, timeout)`, each
/// list in emission order. Generic machines give the commands and events as the
/// vectors' dicts (without their `command` / `event` wrapper); Redlock gives its
/// commands as tuples, the etcd gateway machines theirs as requests (see
/// `gateway.rs`).
pub(crate) type Step<'py> = (
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Bound<'py, PyString>,
    Option<u64>,
);

impl PyMachine {
    pub(crate) fn build(
        py: Python<'_>,
        machine: &str,
        config: &Bound<'_, PyAny>,
        init: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let Some((name, builder)) = MACHINES.iter().find(|(name, _)| *name == machine) else {
            let known: Vec<&str> = MACHINES.iter().map(|(name, _)| *name).collect();
            return Err(errors::invalid_input(
                py,
                format!(
                    "unknown machine {machine:?}; this build knows {}",
                    known.join(", ")
                ),
            ));
        };
        let config = dict_value(py, config, "config")?;
        let init = dict_value(py, init, "init")?;
        let inner = builder(config, init).map_err(|e| e.into_py(py))?;
        Ok(PyMachine { name, inner })
    }

    /// Drains every output into `(commands, events, state, timeout)`.
    fn dict_step<'py>(&mut self, py: Python<'py>) -> PyResult<Step<'py>> {
        let commands = PyList::empty(py);
        let events = PyList::empty(py);
        while let Some(output) = self.inner.poll_output().map_err(|e| e.into_py(py))? {
            let Value::Object(mut map) = output else {
                return Err(errors::internal("a machine output that is not an object"));
            };
            if let Some(command) = map.remove("command") {
                commands.append(convert::to_py(py, &command)?)?;
            } else if let Some(event) = map.remove("event") {
                events.append(convert::to_py(py, &event)?)?;
            } else {
                return Err(errors::internal(
                    "a machine output that is neither command nor event",
                ));
            }
        }
        let state = PyString::intern(py, self.inner.state());
        Ok((commands, events, state, self.inner.poll_timeout()))
    }

    fn drain_into(&mut self, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()> {
        while let Some(output) = self.inner.poll_output().map_err(|e| e.into_py(py))? {
            list.append(convert::to_py(py, &output)?)?;
        }
        Ok(())
    }

    fn redlock_mut(&mut self) -> PyResult<&mut Redlock> {
        self.inner
            .as_any_mut()
            .downcast_mut::<Redlock>()
            .ok_or_else(|| errors::internal("not a redlock machine"))
    }

    fn redlock(&self) -> PyResult<&Redlock> {
        self.inner
            .as_any()
            .downcast_ref::<Redlock>()
            .ok_or_else(|| errors::internal("not a redlock machine"))
    }
}

#[pymethods]
impl PyMachine {
    #[new]
    fn new(
        py: Python<'_>,
        machine: &str,
        config: &Bound<'_, PyAny>,
        init: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        PyMachine::build(py, machine, config, init)
    }

    /// Applies one input dict. Raises `UsageError` (the machine is unchanged) or
    /// `InvalidInput`.
    fn handle_input(&mut self, py: Python<'_>, input: &Bound<'_, PyAny>) -> PyResult<()> {
        let input = dict_value(py, input, "input")?;
        self.inner.handle_input(input).map_err(|e| e.into_py(py))
    }

    /// The next output dict, or `None` once drained.
    fn poll_output(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.inner.poll_output().map_err(|e| e.into_py(py))? {
            Some(output) => Ok(Some(convert::to_py(py, &output)?.unbind())),
            None => Ok(None),
        }
    }

    /// When to deliver the next timeout input (ms), or `None`.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }

    /// Applies one input and drains every output, in one call.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.handle_input(py, input)?;
        self.drain(py)
    }

    /// Drains every queued output (e.g. the first commands after construction).
    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        self.drain_into(py, &list)?;
        Ok(list)
    }

    /// The machine's state name.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state()
    }

    /// The lease dict, or `None` before acquisition.
    #[getter]
    fn lease(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lease = self.inner.lease().map_err(|e| e.into_py(py))?;
        Ok(convert::to_py(py, &lease)?.unbind())
    }

    /// A getter the vectors check, by name (`"lease"`, ...). Raises `InvalidInput`
    /// for a getter this machine does not have.
    fn getter(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.inner.getter(name).map_err(|e| e.into_py(py))? {
            Some(value) => Ok(convert::to_py(py, &value)?.unbind()),
            None => Err(errors::invalid_input(
                py,
                format!("machine {} has no getter {name:?}", self.name),
            )),
        }
    }

    /// The vectors' name of this machine (`"redlock"`, ...).
    #[getter]
    fn machine(&self) -> &'static str {
        self.name
    }

    /// Whether the machine will never act again (late replies are still accepted).
    #[getter]
    fn terminal(&self) -> bool {
        self.inner.terminal()
    }

    /// The drivers' generic path: drains what is queued (the first commands after
    /// construction) as `(commands, events, state, timeout)`.
    fn _drain_step<'py>(&mut self, py: Python<'py>) -> PyResult<Step<'py>> {
        self.dict_step(py)
    }

    /// The drivers' generic path: applies one input dict and drains every output
    /// as `(commands, events, state, timeout)`.
    fn _step<'py>(&mut self, py: Python<'py>, input: &Bound<'py, PyAny>) -> PyResult<Step<'py>> {
        let input = dict_value(py, input, "input")?;
        self.inner.handle_input(input).map_err(|e| e.into_py(py))?;
        self.dict_step(py)
    }

    /// Validity left at `now` (ms): zero unless held; `None` for a machine whose
    /// hold has no time limit (the advisory lock) or no hold (the observer).
    fn _remaining(&self, now: u64) -> Option<u64> {
        self.inner.remaining(now)
    }

    /// End of validity of the hold (ms), moving on with renewals; `None` before
    /// acquisition and for machines without a time limit.
    fn _valid_until(&self) -> Option<u64> {
        self.inner.valid_until()
    }

    fn __repr__(&self) -> String {
        format!(
            "<fencelock machine {} state={}>",
            self.name,
            self.inner.state()
        )
    }
}

/// The Redlock machine (`Machine("redlock", config, init)`).
///
/// Besides the generic dict API it has the fast path the high-level drivers use:
/// each `_reply` / `_error` / `_timeout` / `_extend` / `_release` call applies one
/// input and returns `(commands, events, state, timeout)`, where each command is
/// `(node, req, script, argv)` with `argv` ready for the client:
/// `("EVALSHA", sha1, numkeys, *keys, *args)` (all but the command name as bytes),
/// and each event is the vectors' dict.
#[pyclass(module = "fencelock._native", name = "RedlockMachine", extends = PyMachine)]
pub struct PyRedlockMachine;

fn script_name<'py>(py: Python<'py>, script: Script) -> Bound<'py, PyString> {
    match script {
        Script::Acquire => pyo3::intern!(py, "acquire").clone(),
        Script::Extend => pyo3::intern!(py, "extend").clone(),
        Script::Release => pyo3::intern!(py, "release").clone(),
        _ => pyo3::intern!(py, "fence").clone(),
    }
}

/// Deepest reply nesting converted (fencelock scripts return plain integers).
const MAX_REPLY_DEPTH: usize = 8;

/// A Redis client's reply as the core's [`NodeReply`]: int, `None`, bytes / str,
/// list; anything else is a protocol error the machine will report.
fn node_reply(value: &Bound<'_, PyAny>, depth: usize) -> NodeReply {
    let protocol = |message: String| NodeReply::Error {
        kind: NodeErrorKind::Protocol,
        message,
    };
    if value.is_none() {
        return NodeReply::Nil;
    }
    if value.is_instance_of::<PyInt>() {
        return match value.extract::<i64>() {
            Ok(value) => NodeReply::Int { value },
            Err(_) => protocol(format!("integer reply {value} does not fit in 64 bits")),
        };
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return NodeReply::Text {
            value: String::from_utf8_lossy(bytes.as_bytes()).into_owned(),
        };
    }
    if let Ok(text) = value.cast::<PyString>() {
        return NodeReply::Text {
            value: text.to_string_lossy().into_owned(),
        };
    }
    let items: Option<Vec<Bound<'_, PyAny>>> = if let Ok(list) = value.cast::<PyList>() {
        Some(list.iter().collect())
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        Some(tuple.iter().collect())
    } else {
        None
    };
    match items {
        Some(_) if depth >= MAX_REPLY_DEPTH => protocol(String::from("reply nested too deeply")),
        Some(items) => NodeReply::Array {
            items: items.iter().map(|i| node_reply(i, depth + 1)).collect(),
        },
        None => {
            let name = value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            protocol(format!("unexpected reply of type {name}"))
        }
    }
}

fn error_kind(py: Python<'_>, kind: &str) -> PyResult<NodeErrorKind> {
    Ok(match kind {
        "timeout" => NodeErrorKind::Timeout,
        "connection" => NodeErrorKind::Connection,
        "server" => NodeErrorKind::Server,
        "protocol" => NodeErrorKind::Protocol,
        other => {
            return Err(errors::invalid_input(
                py,
                format!(
                    "unknown node error kind {other:?} (timeout, connection, server, protocol)"
                ),
            ))
        }
    })
}

impl PyRedlockMachine {
    /// Applies `input` (if any) to the base machine and drains it into the fast
    /// step tuple.
    fn run<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        input: Option<Input>,
    ) -> PyResult<Step<'py>> {
        let mut base = slf.into_super();
        let machine = base.redlock_mut()?;
        if let Some(input) = input {
            Machine::handle_input(machine, input).map_err(|e| errors::usage(py, &e))?;
        }
        let commands = PyList::empty(py);
        let events = PyList::empty(py);
        while let Some(output) = Machine::poll_output(machine) {
            match output {
                Output::Command(Command::Eval(eval)) => {
                    // Arguments as bytes: what the client sends, with no encoding step.
                    let mut argv: Vec<Bound<'py, PyAny>> =
                        Vec::with_capacity(3 + eval.keys.len() + eval.args.len());
                    argv.push(pyo3::intern!(py, "EVALSHA").clone().into_any());
                    argv.push(PyBytes::new(py, eval.script.sha1().as_bytes()).into_any());
                    let numkeys = eval.keys.len().to_string();
                    argv.push(PyBytes::new(py, numkeys.as_bytes()).into_any());
                    for key in eval.keys.iter() {
                        argv.push(PyBytes::new(py, key.as_bytes()).into_any());
                    }
                    for arg in eval.args.iter() {
                        argv.push(PyBytes::new(py, arg.as_bytes()).into_any());
                    }
                    let command = (
                        eval.node.0,
                        eval.req.0,
                        script_name(py, eval.script),
                        PyTuple::new(py, argv)?,
                    );
                    commands.append(command)?;
                }
                Output::Event(event) => {
                    let value = serde_json::to_value(&event)
                        .map_err(|e| errors::internal(e.to_string()))?;
                    events.append(convert::to_py(py, &value)?)?;
                }
                other => {
                    return Err(errors::internal(format!(
                        "output this binding does not know: {other:?}"
                    )))
                }
            }
        }
        let state = PyString::intern(py, machine.state().name());
        let timeout = Machine::poll_timeout(machine).map(|m| m.0);
        Ok((commands, events, state, timeout))
    }
}

#[pymethods]
impl PyRedlockMachine {
    #[new]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        init: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let base = PyMachine::build(py, "redlock", config, init)?;
        Ok(PyClassInitializer::from(base).add_subclass(PyRedlockMachine))
    }

    /// Drains what is queued (the first attempt's commands after construction).
    fn _drain<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>) -> PyResult<Step<'py>> {
        PyRedlockMachine::run(slf, py, None)
    }

    /// A node's reply: int, `None`, bytes / str, or a list of those. `node` is the
    /// node the request was sent to (a cross-check), or `None`.
    fn _reply<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        req: u64,
        node: Option<u16>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Step<'py>> {
        let input = Input::Reply {
            now: Millis(now),
            req: RequestId(req),
            node: node.map(NodeId),
            result: node_reply(value, 0),
        };
        PyRedlockMachine::run(slf, py, Some(input))
    }

    /// A node that gave no usable answer: `kind` is `timeout`, `connection`,
    /// `server` or `protocol`.
    fn _error<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        req: u64,
        node: Option<u16>,
        kind: &str,
        message: String,
    ) -> PyResult<Step<'py>> {
        let input = Input::Reply {
            now: Millis(now),
            req: RequestId(req),
            node: node.map(NodeId),
            result: NodeReply::Error {
                kind: error_kind(py, kind)?,
                message,
            },
        };
        PyRedlockMachine::run(slf, py, Some(input))
    }

    /// The host's timer fired.
    fn _timeout<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>, now: u64) -> PyResult<Step<'py>> {
        PyRedlockMachine::run(slf, py, Some(Input::Timeout { now: Millis(now) }))
    }

    /// Extend the held lease now.
    fn _extend<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>, now: u64) -> PyResult<Step<'py>> {
        PyRedlockMachine::run(slf, py, Some(Input::Extend { now: Millis(now) }))
    }

    /// Release the lease (or cancel the acquisition).
    fn _release<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>, now: u64) -> PyResult<Step<'py>> {
        PyRedlockMachine::run(slf, py, Some(Input::Release { now: Millis(now) }))
    }

    /// The resources this machine locks, sorted.
    #[getter]
    fn resources(slf: PyRef<'_, Self>) -> PyResult<Vec<String>> {
        Ok(slf.as_super().redlock()?.resources().to_vec())
    }
}
