//! etcd in the simulator: a simulated cluster ([`EtcdServer`]) and the
//! [`EtcdKind`] adapter that drives the real `etcd::Mutex` (or `etcd::Election`)
//! machine of the core.
//!
//! The cluster is **one logical, linearizable store**, as etcd presents itself
//! to a client: every request is applied atomically at the moment it reaches
//! the server, in arrival order.
//!
//! - **Revisions**: the store starts at revision 1; a transaction that changes
//!   something gets the next revision (all its writes share it), a read-only one
//!   none. Each key keeps its create revision, mod revision, version and lease.
//! - **Reads**: `range` over one key or `[key, range_end)`, filtered by
//!   `max_create_revision` (0: no filter), then sorted by create revision,
//!   then cut to `limit`, as etcd's `Range` does; answers carry the header
//!   revision.
//! - **Transactions**: the compares the machines use (`create_revision(key) ==
//!   r`, 0 for a missing key), then `put` / `range` / `delete_range` in order
//!   (a range sees the puts before it); a put naming a lease that does not exist
//!   fails the whole transaction with `lease_not_found`.
//! - **Leases**: `lease_grant` raises the TTL to the cluster's minimum (etcd's
//!   is about 2 s with default election settings); a lease expires by the
//!   **server's clock** (the leader's) `ttl` after its grant or last keep-alive,
//!   and its keys are deleted (one revision) after a drawn revoke lag (etcd's
//!   lessor checks every 500 ms). An expired lease cannot be renewed (the
//!   keep-alive answers TTL 0). `lease_revoke` deletes the keys at once.
//! - **Watches** from a start revision: events already in the history at or
//!   after it are replayed (a watch from a past revision is "unsynced" for a
//!   drawn time first, as etcd's sync loop catches such watchers up every
//!   100 ms); otherwise the watch waits, and the first revision that touches its
//!   key answers it (a server-pushed message). A start revision below the
//!   compaction point is answered `watch_compacted`, also for an unsynced watch
//!   overtaken by a compaction. The history is compacted when it grows long, and
//!   by the [`ServerFault::Compact`] fault; [`ServerFault::CancelWatches`] ends
//!   every open watch.
//! - **Leader change** ([`ServerFault::LeaderChange`]): while the election runs,
//!   every request but a watch fails with "no leader" and no lease expires;
//!   then the new leader refreshes **every lease to its full TTL** (etcd's
//!   `Promote`), so a lease may outlive its TTL on the server, never the other
//!   way round. Lease ids carry the member id of the leader that granted them.
//!
//! Planted bugs ([`EtcdBugs`]) live only here, never in the core.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use fencelock_core::etcd::{
    Command, Compare, Election, ElectionArgs, ErrorKind, EtcdConfig, Event, EventKind, Input,
    KeyValue, LeaseId, Mutex, MutexArgs, Op, OpResponse, Output, RangeRequest, Reply, SortOrder,
    State, WaitMode, WatchEvent,
};
use fencelock_core::{Machine, Millis, RequestId, UsageError};

use crate::kind::{
    Caller, LockEvent, LockKind, ServerFault, ServerModel, Start, Step, Unreachable,
};

/// Changes kept for watches before the server compacts its history by itself.
pub const HISTORY_MAX: usize = 2_048;

/// Bugs that can be planted in the simulated cluster (never in the core), to show
/// that the checkers catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtcdBugs {
    /// A keep-alive answers with the lease's TTL but does not move its expiry.
    pub keepalive_no_renew: bool,
    /// A transaction's writes take the current revision instead of a new one, so
    /// two keys can share a create revision.
    pub revision_not_bumped: bool,
    /// Leases never expire (only a revoke removes them and their keys).
    pub lease_never_expires: bool,
}

/// How the simulated cluster is set up (drawn per seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtcdServerSetup {
    /// Smallest TTL granted, seconds (a shorter request is raised to it).
    pub min_ttl_secs: u64,
    /// From a lease's expiry to the deletion of its keys, µs (server clock).
    pub revoke_lag_us: u64,
    /// Member id of the first leader: the high 15 bits of its lease ids (etcd's
    /// ids are positive int64).
    pub member: u16,
    /// A watch from a past revision is "unsynced" for this long before the
    /// server replays its history (etcd's sync loop runs every 100 ms); a
    /// compaction meanwhile answers it `watch_compacted`. 0: replayed at once.
    pub watch_sync_us: u64,
    /// Planted bugs.
    pub bugs: EtcdBugs,
}

#[derive(Clone, Debug)]
struct Kv {
    create: u64,
    modified: u64,
    version: u64,
    /// 0: no lease.
    lease: u64,
    value: Arc<str>,
}

#[derive(Clone, Debug)]
struct Lease {
    ttl_secs: u64,
    /// Server-local µs at which the lease expires.
    expires: u64,
    keys: BTreeSet<Arc<str>>,
}

#[derive(Clone, Debug)]
struct Change {
    revision: u64,
    key: Arc<str>,
    /// `None`: a delete.
    kv: Option<Kv>,
}

#[derive(Clone, Debug)]
struct Watch {
    caller: Caller,
    key: Arc<str>,
    range_end: Option<Arc<str>>,
    /// Unsynced (catching up from an old start revision): when the server's
    /// sync loop replays its history, server-local µs.
    sync_at: Option<u64>,
    /// First revision the watch reports.
    from: u64,
}

impl Watch {
    fn covers(&self, key: &str) -> bool {
        match &self.range_end {
            None => key == &*self.key,
            Some(end) => key >= &*self.key && key < &**end,
        }
    }
}

/// The simulated etcd cluster: one linearizable store (see the module docs).
#[derive(Clone, Debug)]
pub struct EtcdServer {
    setup: EtcdServerSetup,
    revision: u64,
    compacted: u64,
    kvs: BTreeMap<Arc<str>, Kv>,
    history: VecDeque<Change>,
    leases: BTreeMap<u64, Lease>,
    watches: Vec<Watch>,
    pushed: Vec<(Caller, Reply)>,
    member: u64,
    next_lease: u64,
    /// While a leader election runs: when it ends (server-local µs).
    no_leader_until: Option<u64>,
    /// Changes of the transaction being applied (scratch).
    batch: Vec<Change>,
    /// Requests served (statistics).
    pub served: u64,
    /// Leases that expired on the server (statistics).
    pub expired: u64,
}

fn kv_json(key: &str, kv: &Kv) -> KeyValue {
    let mut out = KeyValue::new(key, kv.create);
    out.mod_revision = kv.modified;
    out.version = kv.version;
    out.lease = (kv.lease != 0).then_some(LeaseId(kv.lease));
    out.value = String::from(&*kv.value);
    out
}

/// A watch event for `change`. `WatchEvent` has no public constructor, so one is
/// decoded from JSON once and then filled in field by field.
fn event_json(change: &Change) -> WatchEvent {
    thread_local! {
        static TEMPLATE: WatchEvent = serde_json::from_value(serde_json::json!({
            "type": "put",
            "kv": { "key": "", "create_revision": 0 },
        }))
        .expect("a watch event");
    }
    let mut event = TEMPLATE.with(WatchEvent::clone);
    match &change.kv {
        Some(kv) => {
            event.kind = EventKind::Put;
            event.kv = kv_json(&change.key, kv);
        }
        None => {
            event.kind = EventKind::Delete;
            let mut kv = KeyValue::new(&*change.key, 0);
            kv.mod_revision = change.revision;
            kv.version = 0;
            event.kv = kv;
        }
    }
    event
}

fn no_leader() -> Reply {
    Reply::error(ErrorKind::Server, "etcdserver: no leader")
}

impl EtcdServer {
    /// An empty cluster at revision 1.
    #[must_use]
    pub fn new(setup: EtcdServerSetup) -> Self {
        EtcdServer {
            setup,
            revision: 1,
            compacted: 0,
            kvs: BTreeMap::new(),
            history: VecDeque::new(),
            leases: BTreeMap::new(),
            watches: Vec::new(),
            pushed: Vec::new(),
            member: u64::from(setup.member & 0x7fff),
            next_lease: 0,
            no_leader_until: None,
            batch: Vec::new(),
            served: 0,
            expired: 0,
        }
    }

    /// The current revision.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The keys present, with their create revisions (for tests and traces).
    #[must_use]
    pub fn keys(&self) -> Vec<(String, u64)> {
        self.kvs
            .iter()
            .map(|(k, kv)| (String::from(&**k), kv.create))
            .collect()
    }

    /// Leases alive (granted, not revoked, not yet removed after expiry).
    #[must_use]
    pub fn leases(&self) -> usize {
        self.leases.len()
    }

    /// Watches waiting for events.
    #[must_use]
    pub fn open_watches(&self) -> usize {
        self.watches.len()
    }

    fn range(&self, r: &RangeRequest) -> Vec<KeyValue> {
        let mut found: Vec<(&Arc<str>, &Kv)> = match &r.range_end {
            None => self.kvs.get_key_value(&*r.key).into_iter().collect(),
            Some(end) if **end > *r.key => self
                .kvs
                .range::<str, _>((Bound::Included(&*r.key), Bound::Excluded(&**end)))
                .collect(),
            Some(_) => Vec::new(),
        };
        if let Some(max) = r.max_create_revision.filter(|&m| m > 0) {
            found.retain(|(_, kv)| kv.create <= max);
        }
        if let Some(sort) = r.sort {
            // Create revisions are unique (unless a planted bug repeats them); ties
            // stay in key order.
            match sort.order {
                SortOrder::Descend => found.sort_by_key(|kv| std::cmp::Reverse(kv.1.create)),
                _ => found.sort_by_key(|kv| kv.1.create),
            }
        }
        if r.limit > 0 {
            found.truncate(usize::try_from(r.limit).unwrap_or(usize::MAX));
        }
        found.into_iter().map(|(k, kv)| kv_json(k, kv)).collect()
    }

    fn put(&mut self, rev: u64, key: &Arc<str>, value: &Arc<str>, lease: u64) {
        let kv = match self.kvs.get(&**key) {
            Some(old) => Kv {
                create: old.create,
                modified: rev,
                version: old.version + 1,
                lease,
                value: value.clone(),
            },
            None => Kv {
                create: rev,
                modified: rev,
                version: 1,
                lease,
                value: value.clone(),
            },
        };
        if let Some(old) = self.kvs.insert(key.clone(), kv.clone()) {
            if old.lease != 0 && old.lease != lease {
                if let Some(l) = self.leases.get_mut(&old.lease) {
                    l.keys.remove(&**key);
                }
            }
        }
        if lease != 0 {
            if let Some(l) = self.leases.get_mut(&lease) {
                l.keys.insert(key.clone());
            }
        }
        self.batch.push(Change {
            revision: rev,
            key: key.clone(),
            kv: Some(kv),
        });
    }

    fn delete(&mut self, rev: u64, key: &str) -> u64 {
        let Some((key, old)) = self.kvs.remove_entry(key) else {
            return 0;
        };
        if old.lease != 0 {
            if let Some(l) = self.leases.get_mut(&old.lease) {
                l.keys.remove(&*key);
            }
        }
        self.batch.push(Change {
            revision: rev,
            key,
            kv: None,
        });
        1
    }

    /// Records the scratch batch at its revision and answers the watches it touches.
    fn commit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let rev = self.batch[0].revision;
        let mut i = 0;
        while i < self.watches.len() {
            if self.watches[i].sync_at.is_some() {
                // Catching up: it will find this batch in the history.
                i += 1;
                continue;
            }
            let events: Vec<WatchEvent> = self
                .batch
                .iter()
                .filter(|c| self.watches[i].covers(&c.key))
                .map(event_json)
                .collect();
            if events.is_empty() {
                i += 1;
                continue;
            }
            let watch = self.watches.remove(i);
            self.pushed.push((
                watch.caller,
                Reply::Watch {
                    revision: rev,
                    events,
                },
            ));
        }
        self.history.extend(self.batch.drain(..));
        if self.history.len() > HISTORY_MAX {
            let keep_from = self.history[self.history.len() - HISTORY_MAX / 2].revision;
            self.compact(keep_from);
        }
    }

    /// Drops the history below `rev`; an unsynced watch that still needed it is
    /// answered `watch_compacted`.
    fn compact(&mut self, rev: u64) {
        self.compacted = self.compacted.max(rev);
        let compacted = self.compacted;
        let pushed = &mut self.pushed;
        self.watches.retain(|w| {
            let behind = w.sync_at.is_some() && w.from < compacted;
            if behind {
                pushed.push((
                    w.caller,
                    Reply::WatchCompacted {
                        compact_revision: compacted,
                    },
                ));
            }
            !behind
        });
        while self
            .history
            .front()
            .is_some_and(|c| c.revision < self.compacted)
        {
            self.history.pop_front();
        }
    }

    fn txn(&mut self, compare: &[Compare], success: &[Op], failure: &[Op]) -> Reply {
        let holds = compare.iter().all(|c| match c {
            Compare::CreateRevision { key, revision } => {
                self.kvs.get(&**key).map_or(0, |kv| kv.create) == *revision
            }
            _ => false,
        });
        let ops = if holds { success } else { failure };
        for op in ops {
            if let Op::Put {
                lease: Some(lease), ..
            } = op
            {
                if !self.leases.contains_key(&lease.0) {
                    return Reply::error(
                        ErrorKind::LeaseNotFound,
                        "etcdserver: requested lease not found",
                    );
                }
            }
        }
        let rev = if self.setup.bugs.revision_not_bumped {
            self.revision
        } else {
            self.revision + 1
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                Op::Put { key, value, lease } => {
                    self.put(rev, key, value, lease.map_or(0, |l| l.0));
                    OpResponse::Put
                }
                Op::Range(range) => OpResponse::Range {
                    kvs: self.range(range),
                },
                Op::DeleteRange { key } => OpResponse::DeleteRange {
                    deleted: self.delete(rev, key),
                },
                _ => return Reply::error(ErrorKind::Server, "unsupported operation"),
            });
        }
        if !self.batch.is_empty() {
            self.revision = rev;
            self.commit();
        }
        Reply::Txn {
            succeeded: holds,
            revision: self.revision,
            responses,
        }
    }

    /// Removes `lease` and deletes its keys at one new revision.
    fn revoke(&mut self, lease: u64) -> bool {
        let Some(l) = self.leases.remove(&lease) else {
            return false;
        };
        let rev = self.revision + 1;
        for key in &l.keys {
            self.delete(rev, key);
        }
        if !self.batch.is_empty() {
            self.revision = rev;
            self.commit();
        }
        true
    }

    fn watch(
        &mut self,
        now_us: u64,
        caller: Caller,
        key: &Arc<str>,
        range_end: Option<&Arc<str>>,
        start: u64,
    ) -> Option<Reply> {
        let from = if start == 0 { self.revision + 1 } else { start };
        let mut watch = Watch {
            caller,
            key: key.clone(),
            range_end: range_end.cloned(),
            sync_at: None,
            from,
        };
        if from <= self.revision && self.setup.watch_sync_us > 0 {
            // From a past revision: unsynced until the sync loop catches it up.
            watch.sync_at = Some(now_us + self.setup.watch_sync_us);
            self.watches.push(watch);
            return None;
        }
        let reply = self.catch_up(&watch);
        if reply.is_none() {
            self.watches.push(watch);
        }
        reply
    }

    /// What a watch from `watch.from` finds in the history: compaction, events,
    /// or nothing yet (`None`: it waits).
    fn catch_up(&self, watch: &Watch) -> Option<Reply> {
        if watch.from < self.compacted {
            return Some(Reply::WatchCompacted {
                compact_revision: self.compacted,
            });
        }
        let mut events: Vec<&Change> = self
            .history
            .iter()
            .rev()
            .take_while(|c| c.revision >= watch.from)
            .filter(|c| watch.covers(&c.key))
            .collect();
        if events.is_empty() {
            return None;
        }
        events.reverse();
        Some(Reply::Watch {
            revision: self.revision,
            events: events.into_iter().map(event_json).collect(),
        })
    }

    /// The sync loop: catches up every unsynced watch due at `now_us`.
    fn sync_watches(&mut self, now_us: u64) {
        let mut i = 0;
        while i < self.watches.len() {
            if self.watches[i].sync_at.is_none_or(|at| at > now_us) {
                i += 1;
                continue;
            }
            self.watches[i].sync_at = None;
            match self.catch_up(&self.watches[i]) {
                Some(reply) => {
                    let watch = self.watches.remove(i);
                    self.pushed.push((watch.caller, reply));
                }
                None => i += 1,
            }
        }
    }

    fn expiry_of(&self, lease: &Lease) -> u64 {
        lease.expires.saturating_add(self.setup.revoke_lag_us)
    }
}

impl ServerModel for EtcdServer {
    type Request = Command;
    type Reply = Reply;

    fn serve(&mut self, now_us: u64, caller: Caller, request: &Command) -> Option<Reply> {
        self.served += 1;
        self.wake(now_us);
        let leaderless = self.no_leader_until.is_some();
        let reply = match request {
            Command::Watch {
                key,
                range_end,
                start_revision,
                ..
            } => return self.watch(now_us, caller, key, range_end.as_ref(), *start_revision),
            Command::CancelWatch { watch } => {
                self.watches.retain(|w| {
                    !(w.caller.client == caller.client
                        && w.caller.gen == caller.gen
                        && w.caller.req == watch.0)
                });
                return None;
            }
            _ if leaderless => no_leader(),
            Command::LeaseGrant { ttl, .. } => {
                self.next_lease += 1;
                let id = (self.member << 48) | (self.next_lease & 0xffff_ffff_ffff);
                let ttl = (*ttl).max(self.setup.min_ttl_secs);
                self.leases.insert(
                    id,
                    Lease {
                        ttl_secs: ttl,
                        expires: now_us + ttl * 1_000_000,
                        keys: BTreeSet::new(),
                    },
                );
                Reply::LeaseGranted {
                    lease: LeaseId(id),
                    ttl,
                }
            }
            Command::LeaseKeepAlive { lease, .. } => match self.leases.get_mut(&lease.0) {
                Some(l) if l.expires > now_us => {
                    if !self.setup.bugs.keepalive_no_renew {
                        l.expires = now_us + l.ttl_secs * 1_000_000;
                    }
                    Reply::LeaseKeptAlive { ttl: l.ttl_secs }
                }
                _ => Reply::LeaseKeptAlive { ttl: 0 },
            },
            Command::LeaseRevoke { lease, .. } => {
                if self.revoke(lease.0) {
                    Reply::LeaseRevoked
                } else {
                    Reply::error(
                        ErrorKind::LeaseNotFound,
                        "etcdserver: requested lease not found",
                    )
                }
            }
            Command::Txn {
                compare,
                success,
                failure,
                ..
            } => self.txn(compare, success, failure),
            Command::Range { range, .. } => Reply::Range {
                revision: self.revision,
                kvs: self.range(range),
            },
            _ => Reply::error(ErrorKind::Server, "unsupported request"),
        };
        Some(reply)
    }

    fn restart(&mut self, _persist: bool) {
        // The cluster keeps every committed write (a member restart is a leader
        // change at most: see `ServerFault::LeaderChange`).
    }

    fn next_wakeup(&self) -> Option<u64> {
        let sync = self.watches.iter().filter_map(|w| w.sync_at).min();
        let leases = if let Some(until) = self.no_leader_until {
            Some(until)
        } else if self.setup.bugs.lease_never_expires {
            None
        } else {
            self.leases.values().map(|l| self.expiry_of(l)).min()
        };
        match (sync, leases) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wake(&mut self, now_us: u64) {
        // Watches are served by every member, leader or not.
        self.sync_watches(now_us);
        if let Some(until) = self.no_leader_until {
            if now_us < until {
                return;
            }
            // Promote: the new leader refreshes every lease to its full TTL.
            self.no_leader_until = None;
            for lease in self.leases.values_mut() {
                lease.expires = now_us + lease.ttl_secs * 1_000_000;
            }
            return;
        }
        if self.setup.bugs.lease_never_expires {
            return;
        }
        // Bounded: each pass removes one lease.
        while let Some(id) = self
            .leases
            .iter()
            .filter(|(_, l)| self.expiry_of(l) <= now_us)
            .min_by_key(|(id, l)| (self.expiry_of(l), **id))
            .map(|(id, _)| *id)
        {
            self.expired += 1;
            self.revoke(id);
        }
    }

    fn drain_pushed(&mut self, out: &mut Vec<(Caller, Reply)>) {
        out.append(&mut self.pushed);
    }

    fn fault(&mut self, now_us: u64, fault: ServerFault) {
        match fault {
            ServerFault::LeaderChange { election_us } => {
                self.wake(now_us);
                let until = now_us + election_us;
                self.no_leader_until = Some(self.no_leader_until.map_or(until, |u| u.max(until)));
                self.member = (self.member % 0x7ffe) + 1;
            }
            ServerFault::Compact => self.compact(self.revision),
            ServerFault::CancelWatches => {
                for watch in self.watches.drain(..) {
                    self.pushed.push((
                        watch.caller,
                        Reply::WatchCanceled {
                            reason: String::from("etcdserver: watch stream closed"),
                        },
                    ));
                }
            }
        }
    }
}

/// Which etcd machine the simulated clients run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdRecipe {
    /// `etcd::Mutex` (lock, try-lock, unlock).
    Mutex,
    /// `etcd::Election` (campaign, resign; proclaim at every write where the
    /// profile says so).
    Election,
}

/// One client's etcd machine: a mutex or an election campaign.
#[derive(Clone, Debug)]
pub enum EtcdMachine {
    /// A mutex.
    Mutex(Mutex),
    /// An election campaign.
    Election(Election),
}

impl EtcdMachine {
    /// The machine's state.
    #[must_use]
    pub fn state(&self) -> State {
        match self {
            EtcdMachine::Mutex(m) => m.state(),
            EtcdMachine::Election(m) => m.state(),
        }
    }

    fn lock_json(&self) -> serde_json::Value {
        let lock = match self {
            EtcdMachine::Mutex(m) => m.lock(),
            EtcdMachine::Election(m) => m.lock(),
        };
        serde_json::to_value(lock).expect("lock serializes")
    }
}

impl Machine for EtcdMachine {
    type Input = Input;
    type Output = Output;

    fn handle_input(&mut self, input: Input) -> Result<(), UsageError> {
        match self {
            EtcdMachine::Mutex(m) => m.handle_input(input),
            EtcdMachine::Election(m) => m.handle_input(input),
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        match self {
            EtcdMachine::Mutex(m) => m.poll_output(),
            EtcdMachine::Election(m) => m.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Millis> {
        match self {
            EtcdMachine::Mutex(m) => m.poll_timeout(),
            EtcdMachine::Election(m) => m.poll_timeout(),
        }
    }
}

/// etcd as a [`LockKind`]: every acquisition builds a fresh machine (its own
/// session, like `etcdctl lock`) from a configuration template.
#[derive(Clone, Debug)]
pub struct EtcdKind {
    /// The configuration every machine starts from (its own `rng_seed`, and the
    /// wait mode chosen per acquisition).
    pub config: EtcdConfig,
    /// Mutex or election.
    pub recipe: EtcdRecipe,
    /// Per mille of acquisitions that poll the predecessor instead of watching it.
    pub poll_per_mille: u64,
    /// Poll interval, ms.
    pub poll_interval: u64,
    /// Report tokens to the resource (`false`: the resource is not fenced).
    pub fencing: bool,
    /// Election: the leader proclaims a new value at each write.
    pub proclaim: bool,
}

impl EtcdKind {
    /// The configuration of the machine built from `start`.
    #[must_use]
    pub fn config_for(&self, start: &Start) -> EtcdConfig {
        let mut config = self.config.clone();
        config.rng_seed = start.rng_seed;
        if (start.rng_seed >> 40) % 1_000 < self.poll_per_mille {
            config.wait = WaitMode::Poll {
                interval: self.poll_interval,
            };
        }
        config
    }

    fn name(start: &Start) -> &str {
        assert!(
            start.resources.len() == 1,
            "an etcd lock has one name: the simulator draws one resource per cycle"
        );
        &start.resources[0]
    }

    fn mutex_args(start: &Start) -> MutexArgs {
        let mut args = MutexArgs::new(start.now, Self::name(start));
        if let Some(t) = start.timeout {
            args = args.with_timeout(t);
        }
        if start.try_lock {
            args = args.try_lock();
        }
        args
    }

    fn election_args(start: &Start) -> ElectionArgs {
        let args = ElectionArgs::new(start.now, Self::name(start), start.value.clone());
        match start.timeout {
            Some(t) => args.with_timeout(t),
            None => args,
        }
    }
}

impl LockKind for EtcdKind {
    type Machine = EtcdMachine;
    type Request = Command;
    type Reply = Reply;
    type Server = EtcdServer;

    fn machine_name(&self) -> &'static str {
        match self.recipe {
            EtcdRecipe::Mutex => "etcd_mutex",
            EtcdRecipe::Election => "etcd_election",
        }
    }

    fn start(&mut self, start: &Start) -> EtcdMachine {
        let config = self.config_for(start);
        let built = match self.recipe {
            EtcdRecipe::Mutex => {
                Mutex::new(&config, Self::mutex_args(start)).map(EtcdMachine::Mutex)
            }
            EtcdRecipe::Election => {
                Election::new(&config, Self::election_args(start)).map(EtcdMachine::Election)
            }
        };
        built.unwrap_or_else(|e| panic!("simulator built an invalid etcd config: {e}"))
    }

    fn step(&mut self, output: &Output) -> Step<Command> {
        match output {
            Output::Command(command) => Step::Send {
                node: 0,
                req: match command {
                    Command::CancelWatch { watch } => watch.0,
                    other => other.req().map_or(0, |r| r.0),
                },
                request: command.clone(),
            },
            Output::Event(event) => Step::Event(match event {
                Event::Acquired { lock, .. } => LockEvent::Acquired {
                    token: self.fencing.then_some(lock.token.0),
                    valid_until: lock.valid_until,
                },
                Event::KeptAlive { valid_until } => LockEvent::Extended {
                    valid_until: *valid_until,
                },
                Event::Lost { .. } => LockEvent::Lost,
                Event::Released { .. } => LockEvent::Released,
                Event::AcquireFailed { .. } => LockEvent::AcquireFailed,
                _ => LockEvent::Other,
            }),
            _ => Step::Event(LockEvent::Other),
        }
    }

    fn reply_input(&self, now: Millis, req: u64, _node: u16, reply: Reply) -> Input {
        Input::Reply {
            now,
            req: RequestId(req),
            result: reply,
        }
    }

    fn unreachable(&self, why: Unreachable) -> Reply {
        match why {
            Unreachable::Refused => Reply::error(ErrorKind::Connection, "connection refused"),
        }
    }

    fn timeout_input(&self, now: Millis) -> Input {
        Input::Timeout { now }
    }

    fn release_input(&self, now: Millis) -> Input {
        Input::Release { now }
    }

    fn holds(&self, machine: &EtcdMachine) -> bool {
        matches!(machine.state(), State::Held | State::Proclaiming)
    }

    fn can_release(&self, machine: &EtcdMachine) -> bool {
        !matches!(
            machine.state(),
            State::Releasing | State::Released | State::Failed
        )
    }

    fn vector_header(&self, start: &Start) -> (serde_json::Value, serde_json::Value) {
        let config = serde_json::to_value(self.config_for(start)).expect("config serializes");
        let init = match self.recipe {
            EtcdRecipe::Mutex => serde_json::to_value(Self::mutex_args(start)),
            EtcdRecipe::Election => serde_json::to_value(Self::election_args(start)),
        }
        .expect("args serialize");
        (config, init)
    }

    fn input_json(&self, input: &Input) -> serde_json::Value {
        serde_json::to_value(input).expect("input serializes")
    }

    fn output_json(&self, output: &Output) -> serde_json::Value {
        serde_json::to_value(output).expect("output serializes")
    }

    fn state_name(&self, machine: &EtcdMachine) -> &'static str {
        machine.state().name()
    }

    fn views(&self, machine: &EtcdMachine) -> Vec<(&'static str, serde_json::Value)> {
        vec![("lock", machine.lock_json())]
    }

    fn is_idle_wakeup(&self, reply: &Reply) -> bool {
        matches!(reply, Reply::Watch { events, .. }
            if events.iter().all(|e| e.kind != EventKind::Delete))
    }

    fn hold_input(&self, machine: &EtcdMachine, now: Millis, n: u32) -> Option<Input> {
        (self.proclaim && machine.state() == State::Held).then(|| Input::Proclaim {
            now,
            value: format!("v{n}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> EtcdServer {
        EtcdServer::new(EtcdServerSetup {
            min_ttl_secs: 2,
            revoke_lag_us: 0,
            member: 0x694d,
            watch_sync_us: 0,
            bugs: EtcdBugs::default(),
        })
    }

    fn caller(req: u64) -> Caller {
        Caller {
            client: 0,
            gen: 1,
            req,
        }
    }

    fn grant(s: &mut EtcdServer, now: u64, ttl: u64) -> LeaseId {
        match s.serve(
            now,
            caller(1),
            &Command::LeaseGrant {
                req: RequestId(1),
                ttl,
            },
        ) {
            Some(Reply::LeaseGranted {
                lease,
                ttl: granted,
            }) => {
                assert_eq!(granted, ttl.max(2));
                lease
            }
            other => panic!("{other:?}"),
        }
    }

    fn acquire(s: &mut EtcdServer, key: &str, lease: LeaseId) -> Reply {
        let key: Arc<str> = Arc::from(key);
        let owner = Op::Range(
            RangeRequest::under("r")
                .by_create_revision(SortOrder::Ascend)
                .with_limit(1),
        );
        let command = Command::Txn {
            req: RequestId(2),
            compare: Arc::from([Compare::CreateRevision {
                key: key.clone(),
                revision: 0,
            }]),
            success: Arc::from([
                Op::Put {
                    key: key.clone(),
                    value: Arc::from(""),
                    lease: Some(lease),
                },
                owner.clone(),
            ]),
            failure: Arc::from([Op::Range(RangeRequest::key(key)), owner]),
        };
        s.serve(1, caller(2), &command).unwrap()
    }

    #[test]
    fn revisions_leases_and_watches() {
        let mut s = server();
        let a = grant(&mut s, 0, 1);
        let b = grant(&mut s, 0, 5);
        let Reply::Txn {
            succeeded: true,
            revision: 2,
            ..
        } = acquire(&mut s, "r/a", a)
        else {
            panic!()
        };
        let Reply::Txn {
            succeeded: true,
            revision: 3,
            responses,
        } = acquire(&mut s, "r/b", b)
        else {
            panic!()
        };
        // The owner range sees the first-created key.
        assert!(
            matches!(&responses[1], OpResponse::Range { kvs } if kvs[0].key == "r/a" && kvs[0].create_revision == 2)
        );
        // A retried txn runs the failure branch and finds our key again.
        let Reply::Txn {
            succeeded: false,
            revision: 3,
            responses,
        } = acquire(&mut s, "r/b", b)
        else {
            panic!()
        };
        assert!(matches!(&responses[0], OpResponse::Range { kvs } if kvs[0].create_revision == 3));
        // b waits on a from revision 3: nothing yet.
        let watch = Command::Watch {
            req: RequestId(5),
            key: Arc::from("r/a"),
            range_end: None,
            start_revision: 3,
        };
        assert_eq!(s.serve(10, caller(5), &watch), None);
        // a's lease (TTL raised to 2 s) expires by the server clock.
        assert_eq!(s.next_wakeup(), Some(2_000_000));
        s.wake(2_000_000);
        assert_eq!(s.keys(), vec![(String::from("r/b"), 3)]);
        let mut pushed = Vec::new();
        s.drain_pushed(&mut pushed);
        assert!(
            matches!(&pushed[..], [(c, Reply::Watch { revision: 4, events })] if c.req == 5 && events.len() == 1)
        );
        // A keep-alive of an expired lease answers TTL 0.
        let keep = Command::LeaseKeepAlive {
            req: RequestId(6),
            lease: a,
        };
        assert_eq!(
            s.serve(2_000_001, caller(6), &keep),
            Some(Reply::LeaseKeptAlive { ttl: 0 })
        );
        // The delete is replayed for a watch from an older revision; after
        // compaction that watch is refused.
        assert!(matches!(
            s.serve(2_000_002, caller(7), &watch),
            Some(Reply::Watch { .. })
        ));
        s.fault(2_000_003, ServerFault::Compact);
        assert_eq!(
            s.serve(2_000_004, caller(8), &watch),
            Some(Reply::WatchCompacted {
                compact_revision: 4
            })
        );
    }

    #[test]
    fn an_unsynced_watch_overtaken_by_a_compaction_is_compacted() {
        let mut s = EtcdServer::new(EtcdServerSetup {
            watch_sync_us: 50_000,
            ..server().setup
        });
        let a = grant(&mut s, 0, 2);
        acquire(&mut s, "r/a", a);
        acquire(&mut s, "r/b", a);
        let watch = |req: u64, start: u64| Command::Watch {
            req: RequestId(req),
            key: Arc::from("r/a"),
            range_end: None,
            start_revision: start,
        };
        // From revision 2 (a's put): unsynced, replayed by the sync loop.
        assert_eq!(s.serve(10, caller(5), &watch(5, 2)), None);
        assert_eq!(s.next_wakeup(), Some(50_010));
        s.wake(50_010);
        let mut pushed = Vec::new();
        s.drain_pushed(&mut pushed);
        assert!(matches!(&pushed[..], [(c, Reply::Watch { .. })] if c.req == 5));
        // From revision 3: unsynced; another write, then a compaction at revision
        // 4 passes it by before the sync loop catches it up.
        assert_eq!(s.serve(60_000, caller(6), &watch(6, 3)), None);
        acquire(&mut s, "r/c", a);
        s.fault(60_001, ServerFault::Compact);
        s.drain_pushed(&mut pushed);
        assert!(
            matches!(&pushed[1..], [(c, Reply::WatchCompacted { compact_revision: 4 })] if c.req == 6)
        );
        assert_eq!(s.open_watches(), 0);
    }

    #[test]
    fn a_leader_change_refreshes_every_lease() {
        let mut s = server();
        let a = grant(&mut s, 0, 2);
        acquire(&mut s, "r/a", a);
        s.fault(
            1_500_000,
            ServerFault::LeaderChange {
                election_us: 1_000_000,
            },
        );
        // No leader: requests fail, the lease does not expire.
        let keep = Command::LeaseKeepAlive {
            req: RequestId(3),
            lease: a,
        };
        assert!(matches!(
            s.serve(2_100_000, caller(3), &keep),
            Some(Reply::Error { .. })
        ));
        assert_eq!(s.keys().len(), 1);
        // Promoted at 2.5 s: the lease runs a full TTL from there.
        s.wake(2_500_000);
        assert_eq!(s.next_wakeup(), Some(4_500_000));
        s.wake(4_500_000);
        assert!(s.keys().is_empty());
    }
}
