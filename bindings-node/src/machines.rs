//! Every core machine the module exposes, keyed by the name vectors use in their
//! `machine` field. A machine is built from its JSON `config` and `init` and
//! driven with JSON inputs; outputs, state and lease come back as JSON text.
//!
//! Adding a machine: implement [`CoreMachine`] for it and add one [`Entry`] to
//! [`MACHINES`]. Nothing else in the module (nor the JavaScript layer's generic
//! machine wrapper and vector runner) knows machine names.

use std::fmt::Write as _;
use std::sync::Arc;

use fencelock_core::redlock::{
    AcquireArgs, Command, Input, NodeReply, Output, Redlock, RedlockConfig,
};
use fencelock_core::{ConfigError, Machine, Millis, NodeId, RequestId, UsageError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::fault::{fault, invalid, Code, Result};
use crate::json;

/// A core machine whose inputs and outputs have a JSON form.
pub trait CoreMachine: Machine
where
    Self::Input: DeserializeOwned,
    Self::Output: Serialize,
{
    /// The state's name as vectors spell it.
    fn state_name(&self) -> &'static str;
    /// Getters the vectors of this machine may check besides `outputs`,
    /// `timeout`, `state` and `error` (`lease` for Redlock; `lock` / `leader`
    /// for etcd machines).
    const VIEWS: &'static [&'static str];
    /// The getter named `key` (one of [`CoreMachine::VIEWS`]) as JSON text.
    fn view_text(&self, key: &str) -> Result<String>;
    /// `{type: "reply", now, req, node, result: {type: "int", value}}`, for
    /// machines whose hosts answer with integer replies (the host's fast path).
    fn int_reply(now: u64, req: u64, node: u16, value: i64) -> Option<Self::Input>;
    /// An `eval` command's parts (request, node, script name, keys, args), for
    /// the drive loop's compact form; `None` for any other output.
    fn as_eval(output: &Self::Output) -> Option<EvalParts<'_>>;
}

/// The parts of an `eval` command.
pub struct EvalParts<'a> {
    /// Request id.
    pub req: u64,
    /// Node.
    pub node: u16,
    /// Script name (`acquire`, ...).
    pub script: &'static str,
    /// `KEYS` (shared between the commands of one fan-out).
    pub keys: &'a Arc<[String]>,
    /// `ARGV` (shared likewise).
    pub args: &'a Arc<[String]>,
}

impl CoreMachine for Redlock {
    fn state_name(&self) -> &'static str {
        self.state().name()
    }

    const VIEWS: &'static [&'static str] = &["lease"];

    fn view_text(&self, _key: &str) -> Result<String> {
        json::to_text(&self.lease())
    }

    fn int_reply(now: u64, req: u64, node: u16, value: i64) -> Option<Input> {
        Some(Input::Reply {
            now: Millis(now),
            req: RequestId(req),
            node: Some(NodeId(node)),
            result: NodeReply::Int { value },
        })
    }

    fn as_eval(output: &Output) -> Option<EvalParts<'_>> {
        match output {
            Output::Command(Command::Eval(eval)) => Some(EvalParts {
                req: eval.req.0,
                node: eval.node.0,
                script: eval.script.name(),
                keys: &eval.keys,
                args: &eval.args,
            }),
            _ => None,
        }
    }
}

/// A machine behind JSON text: what the native class holds.
pub trait Hosted {
    /// Applies one input (JSON text); on error the machine is unchanged.
    fn handle_json(&mut self, input: &str) -> Result<()>;
    /// Applies an integer reply (see [`CoreMachine::int_reply`]).
    fn reply_int(&mut self, now: u64, req: u64, node: u16, value: i64) -> Result<()>;
    /// The next output as JSON text, if any.
    fn poll_output_json(&mut self) -> Result<Option<String>>;
    /// Every queued output as a JSON array, or `None` when there are none.
    fn drain_json(&mut self) -> Result<Option<String>>;
    /// Every queued output in the drive loop's compact form (see
    /// [`write_compact`]), or `None` when there are none.
    fn drain_compact(&mut self, timeout: Option<u64>) -> Result<Option<String>>;
    /// When the host should deliver the next timeout.
    fn poll_timeout(&self) -> Option<u64>;
    /// The state's name.
    fn state(&self) -> &'static str;
    /// The getters this machine has (see [`CoreMachine::VIEWS`]).
    fn views(&self) -> &'static [&'static str];
    /// The getter named `key` as JSON text.
    fn view_json(&self, key: &str) -> Result<String>;
}

impl<M> Hosted for M
where
    M: CoreMachine,
    M::Input: DeserializeOwned,
    M::Output: Serialize,
{
    fn handle_json(&mut self, input: &str) -> Result<()> {
        let input: M::Input = parse("input", input)?;
        Machine::handle_input(self, input).map_err(usage)
    }

    fn reply_int(&mut self, now: u64, req: u64, node: u16, value: i64) -> Result<()> {
        let input = M::int_reply(now, req, node, value)
            .ok_or_else(|| invalid("this machine takes no integer replies"))?;
        Machine::handle_input(self, input).map_err(usage)
    }

    fn poll_output_json(&mut self) -> Result<Option<String>> {
        Machine::poll_output(self)
            .map(|o| json::to_text(&o))
            .transpose()
    }

    fn drain_json(&mut self) -> Result<Option<String>> {
        let outputs: Vec<M::Output> = std::iter::from_fn(|| Machine::poll_output(self)).collect();
        if outputs.is_empty() {
            return Ok(None);
        }
        json::to_text(&outputs).map(Some)
    }

    fn drain_compact(&mut self, timeout: Option<u64>) -> Result<Option<String>> {
        let first = Machine::poll_output(self);
        let Some(first) = first else {
            return Ok(None);
        };
        let outputs: Vec<M::Output> = std::iter::once(first)
            .chain(std::iter::from_fn(|| Machine::poll_output(self)))
            .collect();
        write_compact::<M>(timeout, &outputs).map(Some)
    }

    fn poll_timeout(&self) -> Option<u64> {
        Machine::poll_timeout(self).map(|m| m.0)
    }

    fn state(&self) -> &'static str {
        self.state_name()
    }

    fn views(&self) -> &'static [&'static str] {
        M::VIEWS
    }

    fn view_json(&self, key: &str) -> Result<String> {
        if M::VIEWS.contains(&key) {
            self.view_text(key)
        } else {
            Err(invalid(format!(
                "no getter {key:?}; this machine has {}",
                M::VIEWS.join(", ")
            )))
        }
    }
}

/// The drive loop's compact form of a batch of outputs: one JSON array
/// `[timeout, tables, item...]`. `timeout` is the next deadline (or `null`);
/// `tables` lists the distinct `keys` / `args` arrays of the batch's `eval`
/// commands; an `eval` command is the array `[req, node, script, keys_index,
/// args_index]`; every other output is its usual JSON object. A fan-out to N
/// nodes shares one `keys` and one `args` array, so the text is a quarter of
/// the plain form's and parses that much faster.
pub fn write_compact<M>(timeout: Option<u64>, outputs: &[M::Output]) -> Result<String>
where
    M: CoreMachine,
    M::Input: DeserializeOwned,
    M::Output: Serialize,
{
    fn index<'a>(tables: &mut Vec<&'a Arc<[String]>>, table: &'a Arc<[String]>) -> usize {
        match tables
            .iter()
            .position(|t| Arc::ptr_eq(t, table) || ***t == **table)
        {
            Some(i) => i,
            None => {
                tables.push(table);
                tables.len() - 1
            }
        }
    }
    let mut tables: Vec<&Arc<[String]>> = Vec::new();
    let mut items = String::with_capacity(64 * outputs.len());
    for output in outputs {
        items.push(',');
        match M::as_eval(output) {
            Some(eval) => {
                let (k, a) = (index(&mut tables, eval.keys), index(&mut tables, eval.args));
                let _ = write!(
                    items,
                    "[{},{},\"{}\",{k},{a}]",
                    eval.req, eval.node, eval.script
                );
            }
            None => items.push_str(&json::to_text(output)?),
        }
    }
    let mut text = String::with_capacity(items.len() + 128);
    match timeout {
        Some(t) => {
            let _ = write!(text, "[{t},");
        }
        None => text.push_str("[null,"),
    }
    text.push_str(&json::to_text(&tables)?);
    text.push_str(&items);
    text.push(']');
    Ok(text)
}

/// A machine's validated configuration, from which the host builds one machine
/// per operation without parsing the configuration again.
pub trait Template {
    /// Builds a machine from `init` (JSON text), with `seed` as its jitter seed
    /// when given.
    fn build(&self, init: &str, seed: Option<u64>) -> Result<Box<dyn Hosted>>;
}

struct RedlockTemplate(RedlockConfig);

impl Template for RedlockTemplate {
    fn build(&self, init: &str, seed: Option<u64>) -> Result<Box<dyn Hosted>> {
        let args: AcquireArgs = parse("init", init)?;
        let machine = match seed {
            Some(seed) => {
                let mut config = self.0.clone();
                config.rng_seed = seed;
                Redlock::new(&config, args)
            }
            None => Redlock::new(&self.0, args),
        }
        .map_err(self::config)?;
        Ok(Box::new(machine))
    }
}

/// One machine the module can build.
pub struct Entry {
    /// The name in vectors' `machine` field.
    pub name: &'static str,
    /// Builds the machine from its `config` and `init` (JSON text).
    pub build: fn(&str, &str) -> Result<Box<dyn Hosted>>,
    /// Checks a `config` (JSON text) alone, for hosts that validate early.
    pub check_config: fn(&str) -> Result<()>,
    /// Validates a `config` (JSON text) once, for building many machines.
    pub template: fn(&str) -> Result<Box<dyn Template>>,
}

/// Every machine this build exposes.
pub const MACHINES: &[Entry] = &[Entry {
    name: "redlock",
    build: build_redlock,
    check_config: check_redlock_config,
    template: redlock_template,
}];

/// Looks a machine up by name.
pub fn entry(name: &str) -> Result<&'static Entry> {
    MACHINES.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = MACHINES.iter().map(|e| e.name).collect();
        invalid(format!(
            "unknown machine {name:?}; this build has {}",
            known.join(", ")
        ))
    })
}

/// Deserializes JSON text into `T`; errors name the offending field
/// (`config.retry.base_delay: invalid type ...`).
fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(format!("{what}: {inner}"))
        } else {
            invalid(format!("{what}.{path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| invalid(format!("{what}: {e}")))?;
    Ok(value)
}

/// A core usage error as a thrown error with its stable code.
pub fn usage(e: UsageError) -> napi::Error<Code> {
    fault(e.code(), e)
}

/// A core configuration error as a thrown error with its stable code.
pub fn config(e: ConfigError) -> napi::Error<Code> {
    fault(e.code(), e)
}

fn build_redlock(config_json: &str, init: &str) -> Result<Box<dyn Hosted>> {
    let cfg: RedlockConfig = parse("config", config_json)?;
    let args: AcquireArgs = parse("init", init)?;
    let machine = Redlock::new(&cfg, args).map_err(config)?;
    Ok(Box::new(machine))
}

fn check_redlock_config(config_json: &str) -> Result<()> {
    let cfg: RedlockConfig = parse("config", config_json)?;
    cfg.validate().map(drop).map_err(config)
}

fn redlock_template(config_json: &str) -> Result<Box<dyn Template>> {
    let cfg: RedlockConfig = parse("config", config_json)?;
    cfg.validate().map_err(config)?;
    Ok(Box::new(RedlockTemplate(cfg)))
}
