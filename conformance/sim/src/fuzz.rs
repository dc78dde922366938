//! Fuzzing harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the
//! stable test that replays their corpora (`tests/fuzz_corpus.rs`).
//!
//! Each harness takes arbitrary bytes, never panics on its own, and panics (an
//! assertion) only when the code under test breaks an invariant.

use fencelock_core::redlock::{
    AcquireArgs, Command, Eval, Event, Input, NodeErrorKind, NodeReply, Output, Redlock,
    RedlockConfig, State,
};
use fencelock_core::wire::resp::{decode, encode_value, Limits};
use fencelock_core::{Machine, Millis, RequestId};

/// Reads bytes front to back; zeros once exhausted.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

fn reply_from(bytes: &mut Bytes<'_>) -> NodeReply {
    let kinds = [
        NodeErrorKind::Timeout,
        NodeErrorKind::Connection,
        NodeErrorKind::Server,
        NodeErrorKind::Protocol,
    ];
    match bytes.u8() % 10 {
        0..=2 => NodeReply::Int { value: 0 },
        3..=5 => NodeReply::Int {
            value: i64::from(bytes.u8() % 8),
        },
        6 => NodeReply::Int {
            value: i64::from(bytes.u16() as i16) * 1_000_003,
        },
        7 => NodeReply::Error {
            kind: kinds[usize::from(bytes.u8() % 4)],
            message: String::from("fuzz"),
        },
        8 => NodeReply::Nil,
        _ => NodeReply::Array {
            items: vec![NodeReply::Text {
                value: String::from("OK"),
            }],
        },
    }
}

fn drain(machine: &mut Redlock) -> Vec<Output> {
    std::iter::from_fn(|| machine.poll_output()).collect()
}

#[derive(Default)]
struct Tally {
    acquire_outcomes: u32,
    released: u32,
    lost: u32,
}

fn check_batch(batch: &[Output], now: Millis, tally: &mut Tally) {
    for output in batch {
        if let Output::Event(event) = output {
            match event {
                Event::Acquired { lease, .. } => {
                    assert!(lease.valid_until > now, "lease without validity at {now}");
                    tally.acquire_outcomes += 1;
                }
                Event::AcquireFailed { .. } => tally.acquire_outcomes += 1,
                Event::Released { .. } => tally.released += 1,
                Event::Lost { .. } => tally.lost += 1,
                _ => {}
            }
        }
    }
    assert!(tally.acquire_outcomes <= 1, "two acquisition outcomes");
    assert!(
        tally.released <= 1 && tally.lost <= 1,
        "two terminal events"
    );
}

/// Arbitrary bytes decoded into a Redlock configuration and a sequence of inputs
/// (replies of any shape, duplicates, timers, extend, release, time going
/// backwards, unknown requests). Invariants: no panic; a rejected input changes
/// nothing and emits nothing; no lease without validity; at most one outcome per
/// operation; deadlines lie in the future; a terminal machine arms no timer.
pub fn redlock_inputs(data: &[u8]) {
    let mut bytes = Bytes { data, pos: 0 };
    let flags = bytes.u8();
    let mut config = RedlockConfig::new(
        u32::from(bytes.u8() % 6),
        [10, 100, 1_000, 10_000][usize::from(flags % 4)],
    );
    config.fencing = flags & 4 == 0;
    config.auto_extend = flags & 8 != 0;
    config.drift_ppm = [10_000, 0, 1_000, 600_000][usize::from(flags >> 4 & 3)];
    if flags & 64 != 0 {
        config.node_timeout = Some(u64::from(bytes.u8() % 40));
    }
    config.retry.max_attempts = match bytes.u8() % 4 {
        0 => None,
        n => Some(u32::from(n)),
    };
    config.rng_seed = u64::from(bytes.u16());
    let resources: Vec<String> = (0..=bytes.u8() % 3)
        .map(|_| format!("r{}", bytes.u8() % 3))
        .collect();
    let mut args = AcquireArgs::new(Millis(u64::from(bytes.u16())), resources, "v".into());
    if flags & 128 != 0 {
        args = args.with_timeout(u64::from(bytes.u16()));
    }
    let mut now = args.now;
    let mut machine = match Redlock::new(&config, args) {
        Ok(machine) => machine,
        Err(error) => {
            assert!(!error.code().is_empty());
            return;
        }
    };
    let mut tally = Tally::default();
    let mut outstanding: Vec<Eval> = Vec::new();
    let mut answered: Vec<RequestId> = Vec::new();
    let mut batch = drain(&mut machine);
    check_batch(&batch, now, &mut tally);
    for _ in 0..1_024 {
        if bytes.done() {
            break;
        }
        for output in batch.drain(..) {
            if let Output::Command(Command::Eval(eval)) = output {
                outstanding.push(eval);
            }
        }
        let action = bytes.u8();
        let input = match action % 8 {
            0 | 1 if !outstanding.is_empty() => {
                let eval = outstanding.remove(usize::from(bytes.u8()) % outstanding.len());
                now = now.plus(u64::from(bytes.u8() % 16));
                answered.push(eval.req);
                let node = (action & 8 != 0).then_some(eval.node);
                Input::Reply {
                    now,
                    req: eval.req,
                    node,
                    result: reply_from(&mut bytes),
                }
            }
            2 if !answered.is_empty() => {
                let req = answered[usize::from(bytes.u8()) % answered.len()];
                Input::Reply {
                    now,
                    req,
                    node: None,
                    result: NodeReply::Nil,
                }
            }
            3 => {
                now = machine.poll_timeout().unwrap_or(now).max(now);
                Input::Timeout { now }
            }
            4 => {
                now = now.plus(u64::from(bytes.u16()));
                Input::Timeout { now }
            }
            5 => Input::Extend { now },
            6 => Input::Release { now },
            _ => {
                if now.0 > 0 && action & 16 != 0 {
                    Input::Timeout {
                        now: Millis(now.0 - 1),
                    }
                } else {
                    Input::Reply {
                        now,
                        req: RequestId(1 << 40),
                        node: None,
                        result: NodeReply::Nil,
                    }
                }
            }
        };
        let before = format!("{machine:?}");
        match machine.handle_input(input) {
            Ok(()) => {}
            Err(error) => {
                assert!(
                    matches!(
                        error.code(),
                        "INVALID_STATE"
                            | "LEASE_LOST"
                            | "DUPLICATE_REPLY"
                            | "NON_MONOTONIC_TIME"
                            | "UNKNOWN_REQUEST"
                    ),
                    "unexpected {}",
                    error.code()
                );
                assert_eq!(
                    before,
                    format!("{machine:?}"),
                    "a rejected input changed the machine"
                );
                assert!(machine.poll_output().is_none(), "a rejected input emitted");
                continue;
            }
        }
        batch = drain(&mut machine);
        check_batch(&batch, now, &mut tally);
        if let Some(deadline) = machine.poll_timeout() {
            assert!(deadline > now, "deadline {deadline} not after {now}");
        }
        if machine.state().is_terminal() {
            assert_eq!(machine.poll_timeout(), None);
        }
        if machine.state() == State::Held {
            assert!(machine.lease().is_some());
        }
    }
}

/// Arbitrary bytes through the RESP2 decoder: it never panics; an error has a
/// stable code and an offset inside the buffer; a decoded value used at most the
/// buffer, re-encodes to bytes that decode to the same value (simple strings and
/// errors are decoded as lossy UTF-8, so the copy may be longer), and every
/// strict prefix of it is reported incomplete.
pub fn resp_decode(data: &[u8]) {
    let small = Limits {
        max_depth: 4,
        max_bulk_len: 64,
        max_array_len: 16,
    };
    let limits = if data.first().is_some_and(|b| b & 1 == 1) {
        small
    } else {
        Limits::default()
    };
    match decode(data, &limits) {
        Ok(Some((value, used))) => {
            assert!(
                used > 0 && used <= data.len(),
                "used {used} of {}",
                data.len()
            );
            let mut encoded = Vec::new();
            encode_value(&value, &mut encoded);
            // Default limits for the copy: lossy UTF-8 can make a line longer.
            assert_eq!(
                decode(&encoded, &Limits::default()),
                Ok(Some((value.clone(), encoded.len()))),
                "re-encoding does not round-trip"
            );
            for cut in [used - 1, used / 2, 1] {
                if cut < used {
                    assert_eq!(
                        decode(&data[..cut], &limits),
                        Ok(None),
                        "prefix of {cut} bytes"
                    );
                }
            }
            let _ = value.is_noscript();
            let _ = value.into_node_reply();
        }
        Ok(None) => {}
        Err(error) => {
            assert!(matches!(error.code(), "RESP_PROTOCOL" | "RESP_LIMIT"));
            assert!(error.offset() <= data.len());
        }
    }
}

// ----------------------------------------------------------------------------
// Every machine, from the conformance vectors.

use std::fmt::Debug;
use std::path::Path;
use std::sync::OnceLock;

use fencelock_core::advisory::{self, AdvisoryConfig};
use fencelock_core::etcd::{self, EtcdConfig};
use fencelock_core::wire::etcd_gateway;
use fencelock_core::zookeeper::{self, ZooKeeperConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Every vector file of `conformance/vectors`, parsed, read once.
fn all_vectors() -> &'static [Value] {
    static VECTORS: OnceLock<Vec<Value>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
            .collect()
    })
}

/// The machine vectors (those that build a machine).
fn machine_vectors() -> Vec<&'static Value> {
    all_vectors()
        .iter()
        .filter(|v| v["machine"].is_string() && v["expect_init"].get("error").is_none())
        .collect()
}

/// Every command of the etcd gateway codec vectors (captured from a real etcd).
fn gateway_commands() -> &'static [etcd::Command] {
    static COMMANDS: OnceLock<Vec<etcd::Command>> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        all_vectors()
            .iter()
            .filter(|v| v["codec"] == "etcd_gateway")
            .flat_map(|v| v["cases"].as_array().cloned().unwrap_or_default())
            .filter_map(|case| serde_json::from_value(case["command"].clone()).ok())
            .collect()
    })
}

/// Builds the vector's machine, or `None` when its config does not parse (never
/// for the vectors this reads).
fn build<M, C, I>(
    vector: &Value,
    new: impl Fn(&C, I) -> Result<M, fencelock_core::ConfigError>,
) -> Option<M>
where
    C: DeserializeOwned,
    I: DeserializeOwned,
{
    let config: C = serde_json::from_value(vector["config"].clone()).ok()?;
    let init: I = serde_json::from_value(vector["init"].clone()).ok()?;
    new(&config, init).ok()
}

/// Replays a vector's inputs with the bytes' mutations and checks the contract
/// every machine shares after each one.
fn mutate_and_check<M>(machine: &mut M, vector: &Value, bytes: &mut Bytes<'_>)
where
    M: Machine + Debug,
    M::Input: DeserializeOwned,
    M::Output: Serialize,
{
    let steps: Vec<Value> = vector["steps"]
        .as_array()
        .map(|steps| steps.iter().map(|s| s["input"].clone()).collect())
        .unwrap_or_default();
    if steps.is_empty() {
        return;
    }
    let mut last = vector["init"]["now"].as_u64().unwrap_or(0);
    drain_all(machine);
    let mut queue: Vec<Value> = steps.clone();
    let mut applied = 0;
    while applied < 256 && !queue.is_empty() {
        applied += 1;
        let mut input = queue.remove(0);
        match bytes.u8() % 12 {
            // Skip it.
            5 => continue,
            // Deliver it twice.
            6 => queue.insert(0, input.clone()),
            // Later by a little (later inputs may then look like time going back).
            7 => shift(&mut input, u64::from(bytes.u8() % 50)),
            // A timer first.
            8 => {
                let at = last + u64::from(bytes.u8()) * 4;
                queue.insert(0, input);
                input = json!({"type": "timeout", "now": at});
            }
            // Swap with the next input.
            9 if !queue.is_empty() => {
                let next = queue.remove(0);
                queue.insert(0, input);
                input = next;
            }
            // Another request id.
            10 if input.get("req").is_some() => {
                input["req"] = json!(u64::from(bytes.u8() % 24));
            }
            // Another step's reply (of any kind) for this request.
            11 if input.get("result").is_some() => {
                let other = &steps[usize::from(bytes.u8()) % steps.len()];
                if let Some(result) = other.get("result") {
                    input["result"] = result.clone();
                }
            }
            _ => {}
        }
        // Keep the input's time at or after the last accepted one most of the time.
        if !bytes.u8().is_multiple_of(8) {
            let now = input["now"].as_u64().unwrap_or(last);
            if now < last {
                input["now"] = json!(last);
            }
        }
        let Ok(parsed) = serde_json::from_value::<M::Input>(input.clone()) else {
            continue;
        };
        let now = input["now"].as_u64().unwrap_or(0);
        let before = format!("{machine:?}");
        match machine.handle_input(parsed) {
            Ok(()) => {
                last = last.max(now);
                drain_all(machine);
                if let Some(deadline) = machine.poll_timeout() {
                    assert!(
                        deadline.0 > now,
                        "{}: deadline {deadline} not after {now}",
                        vector["description"]
                    );
                }
            }
            Err(error) => {
                assert!(!error.code().is_empty());
                assert_eq!(
                    before,
                    format!("{machine:?}"),
                    "a rejected input changed the machine"
                );
                assert!(machine.poll_output().is_none(), "a rejected input emitted");
            }
        }
    }
}

fn shift(input: &mut Value, by: u64) {
    if let Some(now) = input["now"].as_u64() {
        input["now"] = json!(now + by);
    }
}

fn drain_all<M: Machine>(machine: &mut M)
where
    M::Output: Serialize,
{
    for _ in 0..10_000 {
        let Some(output) = machine.poll_output() else {
            return;
        };
        // Every output must have its JSON form (what bindings hand to hosts).
        assert!(serde_json::to_value(&output).is_ok());
    }
    panic!("a machine kept emitting");
}

/// Arbitrary bytes choose a conformance vector (any machine: Redlock, the etcd
/// mutex / election / observer, the ZooKeeper lock / election, the PostgreSQL
/// advisory lock) and mutate its inputs: dropped, delivered twice, swapped, made
/// later, preceded by timers, sent with other request ids or with another step's
/// reply. Invariants: no panic; a rejected input changes nothing and emits
/// nothing; every output serializes; deadlines lie after the input's time.
pub fn machine_inputs(data: &[u8]) {
    let vectors = machine_vectors();
    if vectors.is_empty() {
        return;
    }
    let mut bytes = Bytes { data, pos: 0 };
    let vector = vectors[usize::from(bytes.u16()) % vectors.len()];
    macro_rules! run {
        ($config:ty, $new:expr) => {
            if let Some(mut machine) = build::<_, $config, _>(vector, $new) {
                mutate_and_check(&mut machine, vector, &mut bytes);
            }
        };
    }
    match vector["machine"].as_str().unwrap_or_default() {
        "redlock" => run!(RedlockConfig, Redlock::new),
        "etcd_mutex" => run!(EtcdConfig, etcd::Mutex::new),
        "etcd_election" => run!(EtcdConfig, etcd::Election::new),
        "etcd_observer" => run!(EtcdConfig, etcd::Observer::new),
        "zookeeper_lock" => run!(ZooKeeperConfig, zookeeper::Lock::new),
        "zookeeper_election" => run!(ZooKeeperConfig, zookeeper::Election::new),
        "advisory_lock" => run!(AdvisoryConfig, advisory::Lock::new),
        _ => {}
    }
}

/// Arbitrary bytes as an etcd JSON-gateway response body (for every kind of
/// command the machines send) and as a watch stream line: decoding never panics,
/// and a refused body has a stable code.
pub fn etcd_gateway_decode(data: &[u8]) {
    for command in gateway_commands() {
        match etcd_gateway::decode(command, data) {
            Ok(reply) => assert!(serde_json::to_value(&reply).is_ok()),
            Err(error) => assert!(error.code().starts_with("ETCD_GATEWAY_")),
        }
        let _ = etcd_gateway::reply(command, data);
    }
    match etcd_gateway::decode_watch_line(data) {
        Ok(_) => {}
        Err(error) => assert!(error.code().starts_with("ETCD_GATEWAY_")),
    }
}

/// Both JSON codecs on `text` as `T`: whatever the serde-free codec accepts,
/// serde accepts too and reads as the same value, and the lean codec writes it
/// back as serde_json's text. (The lean codec may refuse more: serde also takes
/// shapes outside the vocabulary, such as a record written as an array.)
fn codecs_agree<T>(text: &str)
where
    T: DeserializeOwned + Serialize + fencelock_core::json::FromJson + fencelock_core::json::ToJson,
{
    use fencelock_core::json::{from_json, to_json};
    match from_json::<T>(text) {
        Ok(lean) => {
            let by_serde: T = serde_json::from_str(text).unwrap_or_else(|e| {
                panic!("the lean codec accepts what serde refuses ({e}): {text}")
            });
            assert_eq!(
                serde_json::to_value(&lean).unwrap(),
                serde_json::to_value(&by_serde).unwrap(),
                "read differently: {text}"
            );
            assert_eq!(to_json(&lean), serde_json::to_string(&by_serde).unwrap());
        }
        Err(error) => assert_eq!(error.code(), "INVALID_INPUT"),
    }
}

/// Arbitrary bytes as JSON text for the serde-free codec (what the WebAssembly
/// binding reads): the first byte picks a vocabulary type (every machine's
/// config, start arguments and input), the rest is the text. Invariants: no
/// panic; nothing accepted that serde refuses; the same value and the same
/// written text as serde.
pub fn json_codecs(data: &[u8]) {
    use fencelock_core::redlock;
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        // The reader takes bytes too: malformed UTF-8 is refused, never a panic.
        assert!(fencelock_core::json::parse(rest).is_err());
        return;
    };
    match pick % 16 {
        0 => codecs_agree::<RedlockConfig>(text),
        1 => codecs_agree::<redlock::AcquireArgs>(text),
        2 => codecs_agree::<redlock::Input>(text),
        3 => codecs_agree::<EtcdConfig>(text),
        4 => codecs_agree::<etcd::MutexArgs>(text),
        5 => codecs_agree::<etcd::ElectionArgs>(text),
        6 => codecs_agree::<etcd::ObserveArgs>(text),
        7 => codecs_agree::<etcd::Input>(text),
        8 => codecs_agree::<etcd::Command>(text),
        9 => codecs_agree::<ZooKeeperConfig>(text),
        10 => codecs_agree::<zookeeper::LockArgs>(text),
        11 => codecs_agree::<zookeeper::ElectionArgs>(text),
        12 => codecs_agree::<zookeeper::Input>(text),
        13 => codecs_agree::<AdvisoryConfig>(text),
        14 => codecs_agree::<advisory::LockArgs>(text),
        _ => codecs_agree::<advisory::Input>(text),
    }
}
