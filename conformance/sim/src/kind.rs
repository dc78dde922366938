//! What the simulator needs from a lock algorithm: a client-side machine kind
//! ([`LockKind`]) and a server model ([`ServerModel`]).
//!
//! The event loop, network, clocks, pauses, fenced resource and checkers are
//! generic over these two traits. Redlock plugs in with [`crate::redis`] (one
//! server per master, answering each request at once); etcd with [`crate::etcd`]
//! (one server for the whole cluster: a linearizable revisioned store whose
//! leases expire by the leader's clock). For etcd the event loop also runs the
//! server's own timers ([`ServerModel::next_wakeup`], [`ServerModel::wake`]) and
//! delivers what the server sends on its own ([`ServerModel::drain_pushed`]:
//! watch answers), and injects server faults ([`ServerFault`]).

use fencelock_core::{Machine, Millis, UsageError};

/// What a client's machine reported, in terms every lock kind shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock is held until `valid_until` (the client's clock), with this token.
    Acquired {
        /// Fencing token, if the kind hands them out.
        token: Option<u64>,
        /// End of validity on the client's clock.
        valid_until: Millis,
    },
    /// The validity moved to `valid_until`.
    Extended {
        /// New end of validity.
        valid_until: Millis,
    },
    /// The lease is gone: stop using the resource.
    Lost,
    /// The release finished (the machine is done).
    Released,
    /// The acquisition ended without a lease (the machine is done).
    AcquireFailed,
    /// One attempt failed (a retry may follow).
    AttemptFailed,
    /// Anything else (node errors, warnings, failed extensions).
    Other,
}

/// A machine output, classified.
#[derive(Clone, Debug)]
pub enum Step<R> {
    /// Send `request` (request id `req`) to server `node`.
    Send {
        /// Server index.
        node: u16,
        /// Request id the reply must echo.
        req: u64,
        /// What the server runs.
        request: R,
    },
    /// An event for the client.
    Event(LockEvent),
}

/// Why a request got no answer from a server process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// The server is down: the connection was refused.
    Refused,
}

/// How one acquisition should start (chosen per cycle by the simulator).
#[derive(Clone, Debug)]
pub struct Start {
    /// Give up at once if another holder has the lock (kinds that have a
    /// try-lock; the others ignore it).
    pub try_lock: bool,
    /// Client's clock, in ms.
    pub now: Millis,
    /// Resources to lock.
    pub resources: Vec<String>,
    /// The lease's unique value.
    pub value: String,
    /// Acquire deadline, ms from now.
    pub timeout: Option<u64>,
    /// Seed for the machine's jitter PRNG.
    pub rng_seed: u64,
}

/// A client-side lock machine kind: how to build one, read its outputs, and
/// feed it replies and timers.
pub trait LockKind {
    /// The core machine.
    type Machine: Machine;
    /// A request as it travels to a server (already parsed from the command).
    type Request: Clone + core::fmt::Debug;
    /// A server's answer.
    type Reply: Clone + core::fmt::Debug;
    /// The server model that answers requests.
    type Server: ServerModel<Request = Self::Request, Reply = Self::Reply>;

    /// The machine's name in conformance vectors (`"redlock"`).
    fn machine_name(&self) -> &'static str;
    /// Builds a machine; the first commands are queued.
    fn start(&mut self, start: &Start) -> Self::Machine;
    /// Classifies one output.
    fn step(&mut self, output: &<Self::Machine as Machine>::Output) -> Step<Self::Request>;
    /// The reply input for request `req` from `node`.
    fn reply_input(
        &self,
        now: Millis,
        req: u64,
        node: u16,
        reply: Self::Reply,
    ) -> <Self::Machine as Machine>::Input;
    /// The reply a client sees when a server cannot be reached.
    fn unreachable(&self, why: Unreachable) -> Self::Reply;
    /// A timer input.
    fn timeout_input(&self, now: Millis) -> <Self::Machine as Machine>::Input;
    /// A release (or cancel) input.
    fn release_input(&self, now: Millis) -> <Self::Machine as Machine>::Input;
    /// Whether the machine currently holds the lease (held or extending).
    fn holds(&self, machine: &Self::Machine) -> bool;
    /// Whether a release input is accepted in the machine's state.
    fn can_release(&self, machine: &Self::Machine) -> bool;
    /// Whether `request` belongs to a second round of an acquisition (the fencing
    /// write-back), for statistics.
    fn is_write_back(&self, _request: &Self::Request) -> bool {
        false
    }
    /// Whether `reply` woke a waiter without news: a watch answer that carries no
    /// delete (the key it waits on is still there), for statistics.
    fn is_idle_wakeup(&self, _reply: &Self::Reply) -> bool {
        false
    }
    /// Whether `error` is the expected answer to a duplicated reply.
    fn is_duplicate(&self, error: &UsageError) -> bool {
        error.code() == "DUPLICATE_REPLY"
    }
    /// The conformance-vector `config` and `init` objects for a machine built
    /// from `start` (for turning a simulated client into a vector).
    fn vector_header(&self, start: &Start) -> (serde_json::Value, serde_json::Value);
    /// JSON of an input, an output, and the machine's state name / lease.
    fn input_json(&self, input: &<Self::Machine as Machine>::Input) -> serde_json::Value;
    /// JSON of an output.
    fn output_json(&self, output: &<Self::Machine as Machine>::Output) -> serde_json::Value;
    /// The machine's state name.
    fn state_name(&self, machine: &Self::Machine) -> &'static str;
    /// Getter expectations a vector of this kind also records (name and JSON),
    /// beyond `outputs`, `timeout` and `state`.
    fn views(&self, _machine: &Self::Machine) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
    /// An input a holder gives its machine at its `n`-th write (from 0), if the
    /// kind has one (an election proclaims a new value).
    fn hold_input(
        &self,
        _machine: &Self::Machine,
        _now: Millis,
        _n: u32,
    ) -> Option<<Self::Machine as Machine>::Input> {
        None
    }
}

/// Who sent a request: enough for a server to answer it later (a watch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Client index.
    pub client: u16,
    /// The client's cycle (machine) the request belongs to.
    pub gen: u32,
    /// Request id the answer must echo.
    pub req: u64,
}

/// A fault injected into a server process (beyond network, clocks and restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFault {
    /// The leader is lost: for `election_us` µs (server clock) requests fail
    /// with "no leader" and no lease expires; then a new leader refreshes every
    /// lease to its full TTL (etcd's `Promote`).
    LeaderChange {
        /// Length of the election, µs.
        election_us: u64,
    },
    /// Compaction at the current revision: a watch that starts below it is
    /// answered `watch_compacted`.
    Compact,
    /// The server ends every open watch (`watch_canceled`), as when the member a
    /// client watches through restarts.
    CancelWatches,
}

/// A simulated server process. Its clock is the simulator's business: every call
/// passes the server's own local time (microseconds).
pub trait ServerModel {
    /// A request.
    type Request;
    /// An answer.
    type Reply;
    /// Runs one request from `caller` at the server's local time `now_us`.
    /// `None`: no answer now (a watch waiting for events, a cancel); an answer
    /// that comes later goes through [`ServerModel::drain_pushed`].
    fn serve(
        &mut self,
        now_us: u64,
        caller: Caller,
        request: &Self::Request,
    ) -> Option<Self::Reply>;
    /// The process restarts: with `persist`, every acknowledged write survives;
    /// without, it comes back empty.
    fn restart(&mut self, persist: bool);
    /// The server's next timer (local µs), if it has one (a lease expiring).
    fn next_wakeup(&self) -> Option<u64> {
        None
    }
    /// Runs every timer due at local time `now_us`.
    fn wake(&mut self, _now_us: u64) {}
    /// Moves the answers the server sends on its own (watch events) to `out`.
    fn drain_pushed(&mut self, _out: &mut Vec<(Caller, Self::Reply)>) {}
    /// Injects `fault` at local time `now_us`.
    fn fault(&mut self, _now_us: u64, _fault: ServerFault) {}
}
