//! The etcd v3 JSON gateway (`fencelock_core::wire::etcd_gateway`) for Python
//! hosts: the codec itself (for the codec vectors and for hosts of their own), and
//! [`PyEtcdGatewayMachine`], an etcd machine whose commands come out as gateway
//! requests and whose replies go in as response bodies, both through the core's
//! codec (base64, 64-bit strings, omitted zero values: none of it in Python).

use fencelock_core::etcd::{self, Command, ErrorKind, Output, Reply};
use fencelock_core::wire::etcd_gateway;
use fencelock_core::{Millis, RequestId};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};
use serde_json::Value;

use crate::convert;
use crate::errors;
use crate::machine::{PyMachine, Step};

/// The bytes of a response body or watch line: `bytes`, `bytearray` or `str`.
fn body_bytes(py: Python<'_>, body: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = body.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(array) = body.cast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    if let Ok(text) = body.cast::<PyString>() {
        return Ok(text.to_cow()?.as_bytes().to_vec());
    }
    let name = body
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(errors::invalid_input(
        py,
        format!("{what} must be bytes or str, got {name}"),
    ))
}

/// An etcd command dict (the vectors' `command`).
fn command(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Command> {
    if !value.is_instance_of::<pyo3::types::PyDict>() {
        return Err(errors::invalid_input(py, "command must be a dict"));
    }
    let value = convert::to_value(value, "command").map_err(|m| errors::invalid_input(py, m))?;
    serde_json::from_value(value).map_err(|e| errors::invalid_input(py, format!("command: {e}")))
}

fn reply_to_py<'py>(py: Python<'py>, reply: &Reply) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(reply).map_err(|e| errors::internal(e.to_string()))?;
    convert::to_py(py, &value)
}

/// `(path, body)` of the gateway request for an etcd command dict (`body` is JSON
/// text), or `None` for `cancel_watch` (abort the watch's request instead).
#[pyfunction]
pub fn etcd_gateway_encode(
    py: Python<'_>,
    command: &Bound<'_, PyAny>,
) -> PyResult<Option<(&'static str, String)>> {
    let command = self::command(py, command)?;
    Ok(etcd_gateway::encode(&command).map(|r| (r.path, r.body)))
}

/// Decodes the response body (any HTTP status; for a watch, the stream read so
/// far) to an etcd command dict into the reply dict. A malformed body raises
/// `WireError` (`ETCD_GATEWAY_JSON`, `ETCD_GATEWAY_FIELD`).
#[pyfunction]
pub fn etcd_gateway_decode<'py>(
    py: Python<'py>,
    command: &Bound<'py, PyAny>,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let command = self::command(py, command)?;
    let body = body_bytes(py, body, "body")?;
    match etcd_gateway::decode(&command, &body) {
        Ok(reply) => reply_to_py(py, &reply),
        Err(e) => Err(errors::wire(py, e.code(), e.to_string())),
    }
}

/// Decodes one line of a watch stream: the reply dict, or `None` for a line that
/// does not answer the watch (`created`, progress). A malformed line raises
/// `WireError`.
#[pyfunction]
pub fn etcd_gateway_decode_watch_line<'py>(
    py: Python<'py>,
    line: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let line = body_bytes(py, line, "line")?;
    match etcd_gateway::decode_watch_line(&line) {
        Ok(Some(reply)) => reply_to_py(py, &reply).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(errors::wire(py, e.code(), e.to_string())),
    }
}

// A gateway fast-path call returns a `Step`: `(requests, events, state, timeout)`.
// Each request is `(kind, req, path, body)`: kind `"post"` (one request, one
// response body), `"watch"` (a streaming request read line by line) or
// `"cancel"` (abort watch `req`; `path` and `body` are `None`).

/// The machine's view of a transport failure.
fn error_kind(py: Python<'_>, kind: &str) -> PyResult<ErrorKind> {
    Ok(match kind {
        "timeout" => ErrorKind::Timeout,
        "connection" => ErrorKind::Connection,
        "server" => ErrorKind::Server,
        "lease_not_found" => ErrorKind::LeaseNotFound,
        "protocol" => ErrorKind::Protocol,
        other => {
            return Err(errors::invalid_input(
                py,
                format!(
                    "unknown etcd error kind {other:?} (timeout, connection, server, \
                     lease_not_found, protocol)"
                ),
            ))
        }
    })
}

/// An etcd machine (`etcd_mutex`, `etcd_election`, `etcd_observer`) driven through
/// the JSON gateway: `EtcdGatewayMachine(machine, config, init)`.
///
/// Besides the generic dict API it has the drivers' fast path: every call applies
/// one input and returns `(requests, events, state, timeout)` (see `_drain`). The
/// machine remembers each request it sent until its answer arrives, so a response
/// body is decoded against the command it answers, by the core's codec.
#[pyclass(module = "fencelock._native", name = "EtcdGatewayMachine", extends = PyMachine)]
pub struct PyEtcdGatewayMachine {
    pending: Vec<Command>,
}

/// What to apply to the machine.
enum Apply {
    Nothing,
    Input(etcd::Input),
}

impl PyEtcdGatewayMachine {
    /// Applies `make(pending)`'s input (if any), then drains every output.
    fn run<'py>(
        mut slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        make: impl FnOnce(&mut Vec<Command>) -> PyResult<Apply>,
    ) -> PyResult<Step<'py>> {
        let mut pending = std::mem::take(&mut slf.pending);
        let result = (|| {
            let base: &mut PyMachine = &mut *slf.as_super();
            let apply = make(&mut pending)?;
            let machine = base
                .inner
                .as_etcd()
                .ok_or_else(|| errors::internal("not an etcd machine"))?;
            if let Apply::Input(input) = apply {
                machine
                    .handle_input(input)
                    .map_err(|e| errors::usage(py, &e))?;
            }
            let requests = PyList::empty(py);
            let events = PyList::empty(py);
            while let Some(output) = machine.poll_output() {
                match output {
                    Output::Command(Command::CancelWatch { watch }) => {
                        pending.retain(|c| c.req() != Some(watch));
                        requests.append((
                            pyo3::intern!(py, "cancel"),
                            watch.0,
                            py.None(),
                            py.None(),
                        ))?;
                    }
                    Output::Command(command) => {
                        let (Some(req), Some(request)) =
                            (command.req(), etcd_gateway::encode(&command))
                        else {
                            return Err(errors::internal(format!(
                                "an etcd command without a gateway request: {command:?}"
                            )));
                        };
                        let kind = if matches!(command, Command::Watch { .. }) {
                            pyo3::intern!(py, "watch")
                        } else {
                            pyo3::intern!(py, "post")
                        };
                        requests.append((
                            kind,
                            req.0,
                            request.path,
                            PyBytes::new(py, request.body.as_bytes()),
                        ))?;
                        pending.push(command);
                    }
                    Output::Event(event) => {
                        let value: Value = serde_json::to_value(&event)
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
            let state = PyString::intern(py, base.inner.state());
            Ok((requests, events, state, base.inner.poll_timeout()))
        })();
        slf.pending = pending;
        result
    }
}

/// The index of the pending command with request id `req`.
fn position(pending: &[Command], req: u64) -> Option<usize> {
    pending.iter().position(|c| c.req() == Some(RequestId(req)))
}

#[pymethods]
impl PyEtcdGatewayMachine {
    #[new]
    fn new(
        py: Python<'_>,
        machine: &str,
        config: &Bound<'_, PyAny>,
        init: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        if !matches!(machine, "etcd_mutex" | "etcd_election" | "etcd_observer") {
            return Err(errors::invalid_input(
                py,
                format!(
                    "EtcdGatewayMachine drives etcd_mutex, etcd_election or etcd_observer, \
                     not {machine:?}"
                ),
            ));
        }
        let base = PyMachine::build(py, machine, config, init)?;
        Ok(
            PyClassInitializer::from(base).add_subclass(PyEtcdGatewayMachine {
                pending: Vec::new(),
            }),
        )
    }

    /// Drains what is queued (the lease grant after construction).
    fn _drain<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>) -> PyResult<Step<'py>> {
        PyEtcdGatewayMachine::run(slf, py, |_| Ok(Apply::Nothing))
    }

    /// The response body of request `req` (whatever the HTTP status), decoded by
    /// the core's codec against the command it answers (a malformed body is a
    /// protocol-error reply for the machine).
    fn _body<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        req: u64,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Step<'py>> {
        let body = body_bytes(py, body, "body")?;
        PyEtcdGatewayMachine::run(slf, py, |pending| {
            let result = match position(pending, req) {
                Some(i) => {
                    let reply = etcd_gateway::reply(&pending[i], &body);
                    pending.swap_remove(i);
                    reply
                }
                // Not a request this machine has pending: the machine tells an
                // unknown request from a duplicate or late reply itself.
                None => Reply::error(
                    ErrorKind::Protocol,
                    "a response for a request the host does not know",
                ),
            };
            Ok(Apply::Input(etcd::Input::Reply {
                now: Millis(now),
                req: RequestId(req),
                result,
            }))
        })
    }

    /// One line of watch `req`'s stream: `None` (nothing applied) when the line
    /// does not answer the watch or the watch is no longer pending, else the step.
    fn _watch_line<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        req: u64,
        line: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Step<'py>>> {
        let line = body_bytes(py, line, "line")?;
        let Some(i) = position(&slf.pending, req) else {
            return Ok(None);
        };
        let Some(result) = etcd_gateway::watch_reply(&line) else {
            return Ok(None);
        };
        PyEtcdGatewayMachine::run(slf, py, |pending| {
            pending.swap_remove(i);
            Ok(Apply::Input(etcd::Input::Reply {
                now: Millis(now),
                req: RequestId(req),
                result,
            }))
        })
        .map(Some)
    }

    /// Request `req` got no response: `kind` is `timeout`, `connection`, `server`,
    /// `lease_not_found` or `protocol`.
    fn _failure<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        req: u64,
        kind: &str,
        message: String,
    ) -> PyResult<Step<'py>> {
        let kind = error_kind(py, kind)?;
        PyEtcdGatewayMachine::run(slf, py, |pending| {
            if let Some(i) = position(pending, req) {
                pending.swap_remove(i);
            }
            Ok(Apply::Input(etcd::Input::Reply {
                now: Millis(now),
                req: RequestId(req),
                result: Reply::error(kind, message),
            }))
        })
    }

    /// The host's timer fired.
    fn _timeout<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>, now: u64) -> PyResult<Step<'py>> {
        PyEtcdGatewayMachine::run(slf, py, |_| {
            Ok(Apply::Input(etcd::Input::Timeout { now: Millis(now) }))
        })
    }

    /// Unlock / resign / cancel / stop observing.
    fn _release<'py>(slf: PyRefMut<'py, Self>, py: Python<'py>, now: u64) -> PyResult<Step<'py>> {
        PyEtcdGatewayMachine::run(slf, py, |_| {
            Ok(Apply::Input(etcd::Input::Release { now: Millis(now) }))
        })
    }

    /// Election: set the leader's value.
    fn _proclaim<'py>(
        slf: PyRefMut<'py, Self>,
        py: Python<'py>,
        now: u64,
        value: String,
    ) -> PyResult<Step<'py>> {
        PyEtcdGatewayMachine::run(slf, py, |_| {
            Ok(Apply::Input(etcd::Input::Proclaim {
                now: Millis(now),
                value,
            }))
        })
    }
}
