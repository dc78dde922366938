//! [`RedlockHost`]: the Redlock machines of one `Redlock` instance in one native
//! object, so the JavaScript drive loop builds no native object per lease and
//! crosses the boundary once per input.
//!
//! Machines live in slots (reused once a lease is done and freed). Each call
//! applies one input to one slot and returns, when there is no output, that
//! slot's next deadline as a number (`-1`: none), else the outputs as one JSON
//! array `[deadline, new_tables, item...]`:
//! - `new_tables` lists the `keys` / `args` arrays this call's commands use that
//!   the slot has not sent before; the host appends them to the slot's table
//!   list (tables are numbered per slot, in the order they were sent);
//! - an `eval` command is `[req, node, script, keys_index, args_index]`;
//! - any other output is its vocabulary object (`{"event": ...}`).
//!
//! The host keeps **one** timer for all slots: it arms it for the earliest
//! deadline it was told about, and when it fires calls [`RedlockHost::expire`],
//! which delivers a `timeout` to every slot due and returns the next deadline
//! over all slots. Early or spurious timeouts are no-ops for the machines.

use std::fmt::Write as _;
use std::sync::Arc;

use fencelock_core::redlock::{
    AcquireArgs, Command, Input, NodeReply, Output, Redlock, RedlockConfig,
};
use fencelock_core::{lock_value_from_random, Machine, Millis, NodeId, RequestId};
use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;

use crate::fault::{invalid, Result};
use crate::json;
use crate::machines::{config, parse, usage};
use crate::{deadline, int_value, millis, node_id, whole};

struct Slot {
    machine: Redlock,
    /// Tables sent to the host, in order (held, so an address is never reused
    /// while the slot lives).
    sent: Vec<Arc<[String]>>,
    deadline: Option<u64>,
}

/// Every Redlock machine of one `Redlock` instance (see the module docs).
#[napi]
pub struct RedlockHost {
    base: RedlockConfig,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
}

/// A random 64-bit seed from 8 bytes.
fn seed_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}

#[napi]
impl RedlockHost {
    /// Validates `config` (JSON text of the vocabulary's Redlock config).
    #[napi(constructor, catch_unwind)]
    pub fn new(config_json: String) -> Result<Self> {
        let base: RedlockConfig = parse("config", &config_json)?;
        base.validate().map_err(config)?;
        Ok(RedlockHost {
            base,
            slots: Vec::new(),
            free: Vec::new(),
        })
    }

    /// Starts a lease at `now` on `resources` (JSON array of names), its lock
    /// value from `random[offset..offset + 16]` (CSPRNG bytes) and, unless
    /// `keep_seed`, its jitter seed from the next 8 bytes; `auto_extend`, when
    /// given, overrides the configuration's for this lease; `timeout` the
    /// acquire deadline in ms (`-1`: none); `config_json` replaces the
    /// instance's configuration for this lease. Returns `[slot, deadline,
    /// new_tables, item...]`.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        now: f64,
        resources_json: String,
        random: Buffer,
        offset: u32,
        keep_seed: bool,
        auto_extend: Option<bool>,
        timeout: f64,
        config_json: Option<String>,
    ) -> Result<String> {
        let now = whole("now", now)?;
        let resources: Vec<String> = parse("resources", &resources_json)?;
        let offset = offset as usize;
        let bytes = random
            .get(offset..offset + 24)
            .ok_or_else(|| invalid("need 24 random bytes at the offset"))?;
        let mut value = [0u8; 16];
        value.copy_from_slice(&bytes[..16]);
        let mut args = AcquireArgs::new(Millis(now), resources, lock_value_from_random(value));
        if timeout >= 0.0 {
            args = args.with_timeout(whole("timeout", timeout)?);
        }
        let mut cfg = match config_json {
            Some(text) => parse("config", &text)?,
            None => self.base.clone(),
        };
        if let Some(auto_extend) = auto_extend {
            cfg.auto_extend = auto_extend;
        }
        if !keep_seed {
            cfg.rng_seed = seed_of(&bytes[16..]);
        }
        let machine = Redlock::new(&cfg, args).map_err(config)?;
        let slot = Slot {
            machine,
            sent: Vec::new(),
            deadline: None,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).map_err(|_| invalid("too many leases"))?
            }
        };
        let mut text = String::with_capacity(512);
        let _ = write!(text, "[{index},");
        let slot = self.slot_mut(index)?;
        match batch(slot)? {
            Some(outputs) => text.push_str(&outputs[1..]),
            None => text.push_str("-1,[]]"),
        }
        Ok(text)
    }

    fn slot_mut(&mut self, slot: u32) -> Result<&mut Slot> {
        self.slots
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| invalid(format!("no lease in slot {slot}")))
    }

    fn slot(&self, slot: u32) -> Result<&Slot> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| invalid(format!("no lease in slot {slot}")))
    }

    fn apply(&mut self, slot: u32, input: Input) -> Result<Either<f64, String>> {
        let s = self.slot_mut(slot)?;
        s.machine.handle_input(input).map_err(usage)?;
        match batch(s)? {
            Some(text) => Ok(Either::B(text)),
            None => Ok(Either::A(deadline(s.deadline))),
        }
    }

    /// An integer reply from node `node` to request `req` of `slot`.
    #[napi(catch_unwind)]
    pub fn reply_int(
        &mut self,
        slot: u32,
        req: f64,
        node: f64,
        value: f64,
        now: f64,
    ) -> Result<Either<f64, String>> {
        let input = Input::Reply {
            now: Millis(whole("now", now)?),
            req: RequestId(whole("req", req)?),
            node: Some(NodeId(node_id(node)?)),
            result: NodeReply::Int {
                value: int_value(value)?,
            },
        };
        self.apply(slot, input)
    }

    /// Any input of `slot` as the vocabulary's JSON text (replies other than
    /// integers).
    #[napi(catch_unwind)]
    pub fn input_json(&mut self, slot: u32, input_json: String) -> Result<Either<f64, String>> {
        let input: Input = parse("input", &input_json)?;
        self.apply(slot, input)
    }

    /// `extend` (`kind` 1) or `release` (`kind` 2) of `slot` at `now`.
    #[napi(catch_unwind)]
    pub fn request(&mut self, slot: u32, kind: u32, now: f64) -> Result<Either<f64, String>> {
        let now = Millis(whole("now", now)?);
        let input = match kind {
            1 => Input::Extend { now },
            2 => Input::Release { now },
            _ => return Err(invalid(format!("unknown request kind {kind}"))),
        };
        self.apply(slot, input)
    }

    /// Delivers a `timeout` at `now` to every slot whose deadline is due.
    /// Returns the next deadline over all slots as a number (`-1`: none) when
    /// no slot had output, else `[next_deadline, [slot, deadline, new_tables,
    /// item...]...]`.
    #[napi(catch_unwind)]
    pub fn expire(&mut self, now: f64) -> Result<Either<f64, String>> {
        let now = whole("now", now)?;
        let mut batches = String::new();
        let mut next: Option<u64> = None;
        for (index, entry) in self.slots.iter_mut().enumerate() {
            let Some(slot) = entry.as_mut() else { continue };
            if slot.deadline.is_some_and(|d| d <= now) {
                slot.machine
                    .handle_input(Input::Timeout { now: Millis(now) })
                    .map_err(usage)?;
                if let Some(text) = batch(slot)? {
                    let _ = write!(batches, ",[{index},");
                    batches.push_str(&text[1..]);
                }
            }
            if let Some(d) = slot.deadline {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        if batches.is_empty() {
            return Ok(Either::A(deadline(next)));
        }
        let mut text = String::with_capacity(batches.len() + 24);
        let _ = write!(text, "[{}", deadline(next));
        text.push_str(&batches);
        text.push(']');
        Ok(Either::B(text))
    }

    /// Frees `slot` (its lease is done): a later lease may reuse it.
    #[napi(catch_unwind)]
    pub fn free(&mut self, slot: u32) {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            if entry.take().is_some() {
                self.free.push(slot);
            }
        }
    }

    /// The state of the machine in `slot`.
    #[napi(catch_unwind)]
    pub fn state(&self, slot: u32) -> Result<&'static str> {
        Ok(self.slot(slot)?.machine.state().name())
    }

    /// Milliseconds of validity left at `now` for the lease in `slot` (zero
    /// unless held), as the core computes it.
    #[napi(catch_unwind)]
    pub fn remaining(&self, slot: u32, now: f64) -> Result<f64> {
        let now = Millis(whole("now", now)?);
        Ok(millis(self.slot(slot)?.machine.remaining(now)))
    }
}

/// Drains `slot`'s outputs as `[deadline, new_tables, item...]` (see the module
/// docs), or `None` when there are none; updates its deadline.
fn batch(slot: &mut Slot) -> Result<Option<String>> {
    slot.deadline = slot.machine.poll_timeout().map(|t| t.0);
    let Some(first) = slot.machine.poll_output() else {
        return Ok(None);
    };
    let mut items = String::with_capacity(160);
    let mut tables = String::new();
    let mut next = Some(first);
    while let Some(output) = next {
        items.push(',');
        match &output {
            Output::Command(Command::Eval(eval)) => {
                let k = table(slot, &eval.keys, &mut tables)?;
                let a = table(slot, &eval.args, &mut tables)?;
                let _ = write!(
                    items,
                    "[{},{},\"{}\",{k},{a}]",
                    eval.req.0,
                    eval.node.0,
                    eval.script.name()
                );
            }
            other => items.push_str(&json::to_text(other)?),
        }
        next = slot.machine.poll_output();
    }
    let mut text = String::with_capacity(items.len() + tables.len() + 24);
    let _ = write!(text, "[{},[", deadline(slot.deadline));
    text.push_str(&tables);
    text.push(']');
    text.push_str(&items);
    text.push(']');
    Ok(Some(text))
}

/// The index of `table` in the slot's sent tables, appending it (and its JSON to
/// `new`) when it was not sent yet.
fn table(slot: &mut Slot, table: &Arc<[String]>, new: &mut String) -> Result<usize> {
    if let Some(i) = slot.sent.iter().position(|t| Arc::ptr_eq(t, table)) {
        return Ok(i);
    }
    if !new.is_empty() {
        new.push(',');
    }
    new.push_str(&json::to_text(&**table)?);
    slot.sent.push(table.clone());
    Ok(slot.sent.len() - 1)
}
