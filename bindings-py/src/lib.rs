//! `fencelock._native`: the fencelock core for Python.
//!
//! Translation only: Python values become core values and back, core errors
//! become the exceptions of `fencelock.errors` with their stable codes. Every
//! lock decision is the core's. The typed facade is the `fencelock` package.
#![forbid(unsafe_code)]

mod convert;
mod errors;
mod fence;
mod gateway;
mod machine;

use fencelock_core::advisory::AdvisoryConfig;
use fencelock_core::etcd::EtcdConfig;
use fencelock_core::redlock::{RedlockConfig, Script};
use fencelock_core::zookeeper::ZooKeeperConfig;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Formats 16 random bytes (from `os.urandom(16)`) as the lock value every
/// binding uses (a version-4 UUID string).
#[pyfunction]
fn lock_value_from_random(py: Python<'_>, random: &Bound<'_, PyAny>) -> PyResult<String> {
    let Ok(bytes) = random.cast::<PyBytes>() else {
        return Err(errors::invalid_input(py, "random must be bytes"));
    };
    let bytes: [u8; 16] = bytes.as_bytes().try_into().map_err(|_| {
        errors::invalid_input(
            py,
            format!(
                "random must be exactly 16 bytes, got {}",
                bytes.as_bytes().len()
            ),
        )
    })?;
    Ok(fencelock_core::lock_value_from_random(bytes))
}

/// Validates a Redlock config dict (the vectors' `config`) and returns the
/// numbers the core derives from it: `nodes`, `quorum`, `ttl`, `drift`,
/// `window`, `node_timeout` (ms). Raises `ConfigError` / `InvalidInput`.
#[pyfunction]
fn redlock_params<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let value = convert::to_value(config, "config").map_err(|m| errors::invalid_input(py, m))?;
    let config: RedlockConfig = serde_json::from_value(value)
        .map_err(|e| errors::invalid_input(py, format!("config: {e}")))?;
    let params = config.validate().map_err(|e| errors::config(py, &e))?;
    let dict = PyDict::new(py);
    dict.set_item("nodes", params.nodes)?;
    dict.set_item("quorum", params.quorum)?;
    dict.set_item("ttl", params.ttl)?;
    dict.set_item("drift", params.drift)?;
    dict.set_item("window", params.window)?;
    dict.set_item("node_timeout", params.node_timeout)?;
    Ok(dict)
}

/// Validates a config dict of the etcd, ZooKeeper or advisory machines (the
/// vectors' `config`) without building a machine: `kind` is `"etcd"`,
/// `"zookeeper"` (checked against `session_timeout` ms, default 10 s) or
/// `"advisory"`. Raises `ConfigError` / `InvalidInput`.
#[pyfunction]
#[pyo3(signature = (kind, config, session_timeout = 10_000))]
fn check_config(
    py: Python<'_>,
    kind: &str,
    config: &Bound<'_, PyAny>,
    session_timeout: u64,
) -> PyResult<()> {
    fn parse<T: serde::de::DeserializeOwned>(
        py: Python<'_>,
        value: serde_json::Value,
    ) -> PyResult<T> {
        serde_json::from_value(value).map_err(|e| errors::invalid_input(py, format!("config: {e}")))
    }
    if !config.is_instance_of::<PyDict>() {
        return Err(errors::invalid_input(py, "config must be a dict"));
    }
    let value = convert::to_value(config, "config").map_err(|m| errors::invalid_input(py, m))?;
    let checked = match kind {
        "etcd" => parse::<EtcdConfig>(py, value)?.validate().map(drop),
        "zookeeper" => parse::<ZooKeeperConfig>(py, value)?
            .validate(session_timeout)
            .map(drop),
        "advisory" => parse::<AdvisoryConfig>(py, value)?.validate().map(drop),
        other => {
            return Err(errors::invalid_input(
                py,
                format!("unknown config kind {other:?} (etcd, zookeeper, advisory)"),
            ))
        }
    };
    checked.map_err(|e| errors::config(py, &e))
}

/// `{name: (sha1, source)}` for every Redlock script, byte for byte as the core
/// sends them.
fn redlock_scripts(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let scripts = PyDict::new(py);
    for script in Script::ALL {
        scripts.set_item(script.name(), (script.sha1(), script.source()))?;
    }
    Ok(scripts)
}

/// The core's Redlock defaults as the vectors' config dict (`retry`, `drift_ppm`,
/// `fencing`, `namespace`, ...), so the facade documents them without copying.
fn redlock_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let value = serde_json::to_value(RedlockConfig::new(1, 1))
        .map_err(|e| errors::internal(e.to_string()))?;
    convert::to_py(py, &value)
}

/// A config's defaults as its vectors' dict (`null` where the core derives the
/// value from other settings).
fn defaults<'py, T: serde::Serialize>(py: Python<'py>, config: &T) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(config).map_err(|e| errors::internal(e.to_string()))?;
    convert::to_py(py, &value)
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let names: Vec<&str> = machine::MACHINES.iter().map(|(name, _)| *name).collect();
    m.add("MACHINES", pyo3::types::PyTuple::new(py, names)?)?;
    // Wire codecs exposed for hosts (vectors with a `codec` key).
    m.add("CODECS", pyo3::types::PyTuple::new(py, ["etcd_gateway"])?)?;
    m.add("REDLOCK_SCRIPTS", redlock_scripts(py)?)?;
    m.add("REDIS_FENCED_SET", fencelock_core::fence::REDIS_FENCED_SET)?;
    m.add(
        "REDIS_FENCED_SET_SHA1",
        fencelock_core::fence::REDIS_FENCED_SET_SHA1,
    )?;
    m.add("REDLOCK_DEFAULTS", redlock_defaults(py)?)?;
    m.add("ETCD_DEFAULTS", defaults(py, &EtcdConfig::new(10))?)?;
    m.add("ZOOKEEPER_DEFAULTS", defaults(py, &ZooKeeperConfig::new())?)?;
    m.add("ADVISORY_DEFAULTS", defaults(py, &AdvisoryConfig::new())?)?;
    m.add(
        "ADVISORY_FENCE_TABLE",
        fencelock_core::advisory::sql::FENCE_TABLE,
    )?;
    m.add("MAX_TIME", fencelock_core::MAX_TIME)?;
    m.add("CORE_VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<machine::PyMachine>()?;
    m.add_class::<machine::PyRedlockMachine>()?;
    m.add_class::<gateway::PyEtcdGatewayMachine>()?;
    m.add_class::<fence::PyFenceGuard>()?;
    m.add_function(wrap_pyfunction!(lock_value_from_random, m)?)?;
    m.add_function(wrap_pyfunction!(redlock_params, m)?)?;
    m.add_function(wrap_pyfunction!(check_config, m)?)?;
    m.add_function(wrap_pyfunction!(fence::fenced_update_sql, m)?)?;
    m.add_function(wrap_pyfunction!(gateway::etcd_gateway_encode, m)?)?;
    m.add_function(wrap_pyfunction!(gateway::etcd_gateway_decode, m)?)?;
    m.add_function(wrap_pyfunction!(
        gateway::etcd_gateway_decode_watch_line,
        m
    )?)?;
    Ok(())
}
