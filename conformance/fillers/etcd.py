#!/usr/bin/env python3
"""Writes the etcd conformance vectors (conformance/vectors/etcd/*.json): the lease
mutex, the election campaign and the leader observer.

Each story states its expectations by hand, from DESIGN.md 4.2, the transitions in
core/src/etcd/mod.rs and the etcd Go concurrency package's RPCs (see the research
notes, section 1.2): every time below is computed here from the spec's rules
(validity = send time of the grant / keep-alive + ttl - drift, keep-alive a third of
the TTL after the last acknowledgement, a request times out request_timeout after it
was sent, retries wait base_delay * 2^(k-1)), never read back from the core.

JSON id rule: lease ids are decimal strings (they exceed 2^53); revisions, tokens,
TTLs and times are integers.

Run: python3 conformance/fillers/etcd.py   (rewrites the folder)
"""

import os

from common import drift, ev, release, reply, step, timeout, vector, write_vectors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "etcd")

T0 = 1000
TTL = 10  # seconds
TTL_MS = TTL * 1000


def window(ttl_s):
    return ttl_s * 1000 - drift(ttl_s * 1000)


WINDOW = window(TTL)  # 9898
KA = TTL_MS // 3  # 3333: keep-alive interval
RT = 500  # request_timeout of most stories
RECHECK = 5000
VALID = T0 + WINDOW  # 10898: validity from the grant sent at T0
WARN = T0 + TTL_MS * 4 // 5  # 9000

LEASE = "7587862243934128390"  # > 2^53, as etcd hands them out
NAME = "orders"
KEY = f"{NAME}/{int(LEASE):x}"  # orders/694d3a2bca4c4806
KEY_A = f"{NAME}/3f1a"  # another holder (lease 16154)
LEASE_A = "16154"
KEY_B = f"{NAME}/3f1b"
LEASE_B = "16155"
KEY_C = f"{NAME}/3f1c"
LEASE_C = "16156"


def config(**overrides):
    cfg = {
        "ttl_secs": TTL,
        "drift_ppm": 10_000,
        "request_timeout": RT,
        "wait": {"type": "watch", "recheck": RECHECK},
        "retry": {"max_attempts": 3, "base_delay": 100, "max_delay": 1600,
                  "backoff": "exponential", "jitter": 0},
        "rng_seed": 7,
    }
    for key, value in overrides.items():
        if key == "retry":
            cfg["retry"] = {**cfg["retry"], **value}
        else:
            cfg[key] = value
    return cfg


def mutex_init(now=T0, name=NAME, timeout=None, try_lock=False):
    return {"now": now, "name": name, "timeout": timeout, "try_lock": try_lock}


def election_init(now=T0, name=NAME, value="node-1", timeout=None):
    return {"now": now, "name": name, "value": value, "timeout": timeout}


def observe_init(now=T0, name=NAME, follow=False):
    return {"now": now, "name": name, "follow": follow}


# ----------------------------------------------------------------- vocabulary

def range_req(key, range_end=None, limit=0, sort=None, max_create_revision=None):
    return {"key": key, "range_end": range_end, "limit": limit, "sort": sort,
            "max_create_revision": max_create_revision}


def owner_range(name=NAME):
    """Go's WithFirstCreate: the first-created key under name/."""
    return range_req(f"{name}/", f"{name}0", 1, {"target": "create", "order": "ascend"})


class Client:
    """The exact commands one machine emits, allocating request ids in order."""

    def __init__(self, name=NAME, lease=LEASE, value=""):
        self.name = name
        self.lease = lease
        self.key = f"{name}/{int(lease):x}"
        self.value = value
        self.next_req = 1

    def _cmd(self, kind, **fields):
        req = self.next_req
        self.next_req += 1
        return {"command": {"type": kind, "req": req, **fields}}

    def grant(self, ttl=TTL):
        return self._cmd("lease_grant", ttl=ttl)

    def keepalive(self):
        return self._cmd("lease_keep_alive", lease=self.lease)

    def revoke(self):
        return self._cmd("lease_revoke", lease=self.lease)

    def acquire(self):
        """Go's tryAcquire: one txn."""
        return self._cmd(
            "txn",
            compare=[{"type": "create_revision", "key": self.key, "revision": 0}],
            success=[{"type": "put", "key": self.key, "value": self.value, "lease": self.lease},
                     {"type": "range", **owner_range(self.name)}],
            failure=[{"type": "range", **range_req(self.key)},
                     {"type": "range", **owner_range(self.name)}])

    def predecessor(self, my_rev):
        """Go's waitDeletes: the last-created key below my_rev, only."""
        return self._cmd("range", range=range_req(
            f"{self.name}/", f"{self.name}0", 1, {"target": "create", "order": "descend"},
            my_rev - 1))

    def watch(self, key, start_revision, range_end=None):
        return self._cmd("watch", key=key, range_end=range_end, start_revision=start_revision)

    def confirm(self):
        return self._cmd("range", range=range_req(self.key))

    def delete(self, my_rev):
        return self._cmd(
            "txn", compare=[{"type": "create_revision", "key": self.key, "revision": my_rev}],
            success=[{"type": "delete_range", "key": self.key}], failure=[])

    def proclaim(self, my_rev, value):
        return self._cmd(
            "txn", compare=[{"type": "create_revision", "key": self.key, "revision": my_rev}],
            success=[{"type": "put", "key": self.key, "value": value, "lease": self.lease}],
            failure=[])

    def leader_range(self):
        return self._cmd("range", range=owner_range(self.name))

    def lock(self, token, acquired_at, valid_until):
        return {"key": self.key, "lease": self.lease, "token": token,
                "acquired_at": acquired_at, "valid_until": valid_until}


def cancel(watch_req):
    return {"command": {"type": "cancel_watch", "watch": watch_req}}


def stats(latency, retries=0, queued=False):
    return {"latency": latency, "retries": retries, "queued": queued}


def lease_granted(valid_until, lease=LEASE, ttl=TTL):
    return ev("lease_granted", lease=lease, ttl=ttl, valid_until=valid_until)


def acquired(c, token, at, valid_until, latency, retries=0, queued=False):
    return ev("acquired", lock=c.lock(token, at, valid_until),
              stats=stats(latency, retries, queued))


def acquire_failed(reason, latency, retries=0, queued=False):
    return ev("acquire_failed", reason=reason, stats=stats(latency, retries, queued))


def lost(reason, held_for=None):
    return ev("lost", reason=reason, held_for=held_for)


def released(outcome, held_for):
    return ev("released", outcome=outcome, held_for=held_for)


def request_error(req, kind, message):
    return ev("request_error", req=req, kind=kind, message=message)


def timed_out(req, rt=RT):
    return request_error(req, "timeout", f"no reply within {rt} ms")


# replies

def proclaim(now, value):
    return {"type": "proclaim", "now": now, "value": value}


def kv(key, create, lease=None, value="", mod=None, version=1):
    return {"key": key, "create_revision": create, "mod_revision": mod or create,
            "version": version, "lease": lease, "value": value}


def GRANTED(lease=LEASE, ttl=TTL):
    return {"type": "lease_granted", "lease": lease, "ttl": ttl}


def KEPT(ttl=TTL):
    return {"type": "lease_kept_alive", "ttl": ttl}


REVOKED = {"type": "lease_revoked"}


def TXN(succeeded, revision, responses):
    return {"type": "txn", "succeeded": succeeded, "revision": revision, "responses": responses}


def PUT():
    return {"type": "put"}


def RANGE_R(*kvs):
    return {"type": "range", "kvs": list(kvs)}


def DELETED(n=1):
    return {"type": "delete_range", "deleted": n}


def created_txn(my_rev, owner=None):
    """The success branch: our put ran (header revision = our create revision)."""
    return TXN(True, my_rev, [PUT(), RANGE_R(*([owner] if owner else []))])


def existing_txn(revision, own, owner):
    """The failure branch: our key already existed."""
    return TXN(False, revision, [RANGE_R(own), RANGE_R(owner)])


def RANGE(revision, *kvs):
    return {"type": "range", "revision": revision, "kvs": list(kvs)}


def WATCH(revision, *events):
    return {"type": "watch", "revision": revision, "events": list(events)}


def DEL(key, revision):
    return {"type": "delete", "kv": {"key": key, "create_revision": 0, "mod_revision": revision,
                                     "version": 0, "lease": None, "value": ""}}


def PUTEV(key, create, revision, value="", lease=None):
    return {"type": "put", "kv": kv(key, create, lease, value, revision)}


def ERR(kind, message=""):
    return {"type": "error", "kind": kind, "message": message}


def mutex(name, description, cfg, init, expect_init, steps=()):
    vector("etcd_mutex", name, description, cfg, init, expect_init, steps)


def election(name, description, cfg, init, expect_init, steps=()):
    vector("etcd_election", name, description, cfg, init, expect_init, steps)


def observer(name, description, cfg, init, expect_init, steps=()):
    vector("etcd_observer", name, description, cfg, init, expect_init, steps)


def opening(c, granted_at=1002, rt=RT):
    """init (grant sent at T0) and the grant's reply, which sends the acquire txn."""
    init_expect = {"outputs": [c.grant()], "timeout": T0 + rt, "state": "acquiring", "lock": None}
    grant = step(reply(granted_at, 1, GRANTED()),
                 outputs=[lease_granted(VALID), c.acquire()],
                 timeout=granted_at + rt, state="acquiring")
    return init_expect, grant


def queued_behind(c, my_rev, owner_key, owner_rev, txn_at=1004, pred_at=1006,
                  pred_key=None, pred_rev=None, header=None, watch_timeout=None):
    """The txn shows another owner; the predecessor read finds pred; we watch it from
    the read's revision + 1 (every write up to the read is already in it)."""
    pred_key = pred_key or owner_key
    pred_rev = pred_rev or owner_rev
    header = header or my_rev
    pred = c.predecessor(my_rev)
    steps = [
        step(reply(txn_at, 2, created_txn(my_rev, kv(owner_key, owner_rev))),
             outputs=[pred], timeout=txn_at + RT, state="waiting"),
    ]
    watch = c.watch(pred_key, header + 1)
    steps.append(step(reply(pred_at, 3, RANGE(header, kv(pred_key, pred_rev))),
                      outputs=[watch],
                      timeout=watch_timeout or min(1002 + KA, pred_at + RECHECK),
                      state="waiting"))
    return steps, watch["command"]["req"]


# ------------------------------------------------------------------ the mutex

def mutex_basics():
    c = Client()
    init_expect, grant = opening(c)
    mutex("uncontended_acquire_release",
          "Uncontended: grant, then ONE txn whose owner range is our own key: acquired with token = "
          "the txn's header revision (our key's create revision), validity from the grant's send "
          "time (1000 + 10000 - 102). Keep-alive 3333 ms after the grant's reply; its ack renews from "
          "the keep-alive's send time. Release: guarded delete txn, then revoke.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)],
                timeout=1002 + KA, state="held", lock=c.lock(10, 1004, VALID)),
           step(timeout(1002 + KA), outputs=[c.keepalive()], timeout=4335 + RT, state="held"),
           step(reply(4340, 3, KEPT()), outputs=[ev("kept_alive", valid_until=4335 + WINDOW)],
                timeout=4340 + KA, state="held", lock=c.lock(10, 1004, 4335 + WINDOW)),
           step(release(5000), outputs=[c.delete(10)], timeout=5000 + RT, state="releasing"),
           step(reply(5002, 4, TXN(True, 11, [DELETED()])), outputs=[c.revoke()],
                timeout=5002 + RT, state="releasing"),
           step(reply(5004, 5, REVOKED), outputs=[released("released", 3996)], timeout=None,
                state="released", lock=c.lock(10, 1004, 4335 + WINDOW))])

    small = "3777009455489044229"
    c = Client(name="mylock", lease=small)
    assert c.key == "mylock/346aa2169bb74f05"
    mutex("key_is_name_slash_lowercase_hex_lease",
          "The key is name + '/' + lowercase hex of the lease id, no padding (Go's %x): lease "
          "3777009455489044229 locks mylock/346aa2169bb74f05, the key etcdctl lock wrote for that "
          "lease. The token is the key's create revision 2, not the lease id.",
          config(), mutex_init(name="mylock"),
          {"outputs": [c.grant()], "timeout": 1500, "state": "acquiring"},
          [step(reply(1002, 1, GRANTED(small)),
                outputs=[lease_granted(VALID, small), c.acquire()], timeout=1502),
           step(reply(1003, 2, created_txn(2, kv(c.key, 2, small))),
                outputs=[acquired(c, 2, 1003, VALID, 3)], state="held")])

    c = Client()
    ttl2 = 2
    valid2 = T0 + window(ttl2)  # 1000 + 2000 - 22
    mutex("server_raised_ttl_is_used",
          "We ask for a 1 s lease; etcd raises it to its minimum (2 s here). Validity, keep-alive "
          "interval and warning follow the granted TTL: valid until 1000+2000-22, keep-alive at "
          "1002+666, warning at 1000+1600.",
          config(ttl_secs=1, request_timeout=300), mutex_init(),
          {"outputs": [c.grant(ttl=1)], "timeout": 1300},
          [step(reply(1002, 1, GRANTED(ttl=ttl2)),
                outputs=[lease_granted(valid2, ttl=ttl2), c.acquire()], timeout=1302),
           step(reply(1003, 2, created_txn(5, kv(KEY, 5, LEASE))),
                outputs=[acquired(c, 5, 1003, valid2, 3)], timeout=1002 + 666, state="held"),
           step(timeout(1668), outputs=[c.keepalive()], timeout=1668 + 300),
           step(timeout(1968), outputs=[timed_out(3, 300)], timeout=2068),
           step(timeout(2068), outputs=[c.keepalive()], timeout=2368),
           step(timeout(2368), outputs=[timed_out(4, 300)], timeout=2468),
           step(timeout(2468), outputs=[c.keepalive()], timeout=2600),
           step(timeout(2600), outputs=[ev("expiry_warning", valid_until=valid2)],
                timeout=2768),
           step(timeout(2768), outputs=[timed_out(5, 300)], timeout=2868),
           step(timeout(2868), outputs=[c.keepalive()], timeout=valid2),
           step(timeout(valid2), outputs=[lost("expired", valid2 - 1003)], timeout=None,
                state="lost")])


def mutex_queue():
    # B is second in line behind A.
    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("fifo_handoff_waiter_watches_the_holder",
          "A holds (token 10); our txn (revision 11) shows A as owner: we read our predecessor "
          "(max_create_revision 10, newest first, limit 1) and watch ONLY A's key from the read's "
          "header revision. A's delete wakes us; a fresh read finds no predecessor; we confirm our "
          "key still exists with revision 11 and our lease: acquired with token 11 > 10.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12))),
                   outputs=[c.predecessor(11)], timeout=3000 + RT, state="waiting"),
              step(reply(3002, 5, RANGE(12)), outputs=[c.confirm()], timeout=3502),
              step(reply(3004, 6, RANGE(12, kv(KEY, 11, LEASE))),
                   outputs=[acquired(c, 11, 3004, VALID, 2004, queued=True)],
                   timeout=1002 + KA, state="held", lock=c.lock(11, 3004, VALID))])

    # C is third: A holds, B waits, C must watch B only.
    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 12, KEY_A, 10, pred_key=KEY_B, pred_rev=11)
    mutex("fifo_third_in_line_watches_only_its_predecessor",
          "A holds (10), B waits (11), we are 12: our only watch target is B's key, so A's release "
          "does not wake us (no herd): nothing happens until B's key goes. Then no predecessor is "
          "left, the confirm read finds our key: acquired with token 12.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(timeout(3000), outputs=[], timeout=1002 + KA, state="waiting"),
              step(reply(3500, watch_req, WATCH(14, DEL(KEY_B, 14))),
                   outputs=[c.predecessor(12)], timeout=4000),
              step(reply(3502, 5, RANGE(14)), outputs=[c.confirm()], timeout=4002),
              step(reply(3504, 6, RANGE(14, kv(KEY, 12, LEASE))),
                   outputs=[acquired(c, 12, 3504, VALID, 2504, queued=True)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("predecessor_deleted_between_read_and_watch",
          "A is deleted (revision 12) after our predecessor read (header 11) but before our watch "
          "starts: the watch starts at revision 11, so etcd replays the delete at once and we "
          "proceed within one extra round trip, no hang.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(1008, watch_req, WATCH(12, DEL(KEY_A, 12))),
                   outputs=[c.predecessor(11)], timeout=1508),
              step(reply(1010, 5, RANGE(12)), outputs=[c.confirm()], timeout=1510),
              step(reply(1012, 6, RANGE(12, kv(KEY, 11, LEASE))),
                   outputs=[acquired(c, 11, 1012, VALID, 12, queued=True)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 12, KEY_A, 10, pred_key=KEY_B, pred_rev=11)
    mutex("waiter_ahead_expires_while_the_holder_stays",
          "A holds (10), B (11) and we (12) wait. B's lease expires: its key's delete wakes us, but "
          "a fresh read finds A (the holder) as our predecessor: we watch A and stay waiting; we are "
          "never acquired while A's key exists (etcd's TestMutexWaitsOnCurrentHolder).",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(2000, watch_req, WATCH(13, DEL(KEY_B, 13))),
                   outputs=[c.predecessor(12)], timeout=2500, state="waiting"),
              step(reply(2002, 5, RANGE(13, kv(KEY_A, 10))), outputs=[c.watch(KEY_A, 14)],
                   timeout=1002 + KA, state="waiting", lock=None),
              step(reply(3000, 6, WATCH(14, DEL(KEY_A, 14))), outputs=[c.predecessor(12)],
                   timeout=3500),
              step(reply(3002, 7, RANGE(14)), outputs=[c.confirm()], timeout=3502),
              step(reply(3004, 8, RANGE(14, kv(KEY, 12, LEASE))),
                   outputs=[acquired(c, 12, 3004, VALID, 2004, queued=True)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("watch_compacted_reads_the_queue_again",
          "The watch's start revision was compacted: the waiter does not take a broken watch for "
          "'predecessor gone'; it reads the queue again (A still there, header 25) and watches A "
          "from 25.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(2000, watch_req, {"type": "watch_compacted", "compact_revision": 20}),
                   outputs=[c.predecessor(11)], timeout=2500, state="waiting"),
              step(reply(2002, 5, RANGE(25, kv(KEY_A, 10))), outputs=[c.watch(KEY_A, 26)],
                   timeout=1002 + KA, state="waiting")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("watch_canceled_or_failed_reads_the_queue_again",
          "A watch cancelled by the server reads the queue again at once; a watch that fails "
          "(connection error) counts as a failed request: request_error, then the read is retried "
          "after the backoff (100 ms).",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(2000, watch_req, {"type": "watch_canceled", "reason": "server shutdown"}),
                   outputs=[c.predecessor(11)], timeout=2500),
              step(reply(2002, 5, RANGE(15, kv(KEY_A, 10))), outputs=[c.watch(KEY_A, 16)],
                   timeout=1002 + KA),
              step(reply(2100, 6, ERR("connection", "stream reset")),
                   outputs=[request_error(6, "connection", "stream reset")], timeout=2200,
                   state="waiting"),
              step(timeout(2200), outputs=[c.predecessor(11)], timeout=2700),
              step(reply(2202, 7, RANGE(16)), outputs=[c.confirm()], timeout=2702),
              step(reply(2204, 8, RANGE(16, kv(KEY, 11, LEASE))),
                   outputs=[acquired(c, 11, 2204, VALID, 1204, retries=1, queued=True)])])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("watch_without_news_is_rechecked",
          "The delete notification is lost: the watch is closed (cancel_watch) and the queue read "
          "again 5000 ms (recheck) after it started; the read finds A gone and we proceed. Keep-"
          "alives go on meanwhile.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
              step(reply(4340, 5, KEPT()), outputs=[ev("kept_alive", valid_until=4335 + WINDOW)],
                   timeout=1006 + RECHECK),
              step(timeout(6006), outputs=[cancel(watch_req), c.predecessor(11)], timeout=6506),
              step(reply(6008, 6, RANGE(20)), outputs=[c.confirm()], timeout=6508),
              step(reply(6010, 7, RANGE(20, kv(KEY, 11, LEASE))),
                   outputs=[acquired(c, 11, 6010, 4335 + WINDOW, 5010, queued=True)])])

    c = Client()
    init_expect, grant = opening(c)
    poll = {"type": "poll", "interval": 1000}
    mutex("poll_mode_reads_the_predecessor_every_interval",
          "Poll mode (hosts that cannot hold a stream): no watch; the predecessor is read again "
          "every 1000 ms until it is gone, then our key is confirmed.",
          config(wait=poll), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.predecessor(11)],
                timeout=1504, state="waiting"),
           step(reply(1006, 3, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=2006),
           step(timeout(2006), outputs=[c.predecessor(11)], timeout=2506),
           step(reply(2008, 4, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=3008),
           step(timeout(3008), outputs=[c.predecessor(11)], timeout=3508),
           step(reply(3010, 5, RANGE(13)), outputs=[c.confirm()], timeout=3510),
           step(reply(3012, 6, RANGE(13, kv(KEY, 11, LEASE))),
                outputs=[acquired(c, 11, 3012, VALID, 2012, queued=True)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    poll = {"type": "poll", "interval": 900}
    mutex("poll_mode_takes_a_last_look_at_the_deadline",
          "Poll mode with an acquire deadline (2500 ms: at 3500), reads every 900 ms. The "
          "deadline comes before the next read (3710): it triggers one last read instead of "
          "giving up blind. A is gone by then: confirmed, acquired 4 ms after the deadline. "
          "Without the last look, waiters behind waiters that give up at their own deadlines "
          "give up one after another while the lock is free.",
          config(wait=poll), mutex_init(timeout=2500), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.predecessor(11)],
                timeout=1504, state="waiting"),
           step(reply(1006, 3, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=1906),
           step(timeout(1906), outputs=[c.predecessor(11)], timeout=2406),
           step(reply(1908, 4, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=2808),
           step(timeout(2808), outputs=[c.predecessor(11)], timeout=3308),
           step(reply(2810, 5, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=3500),
           step(timeout(3500), outputs=[c.predecessor(11)], timeout=4000, state="waiting"),
           step(reply(3502, 6, RANGE(14)), outputs=[c.confirm()], timeout=4002),
           step(reply(3504, 7, RANGE(14, kv(KEY, 11, LEASE))),
                outputs=[acquired(c, 11, 3504, VALID, 2504, queued=True)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("poll_mode_last_look_still_queued_gives_up",
          "Poll mode, deadline at 3500: the last read at the deadline still finds A ahead, so "
          "the acquisition gives up (deadline) and removes its key, as without polling.",
          config(wait=poll), mutex_init(timeout=2500), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.predecessor(11)],
                timeout=1504, state="waiting"),
           step(reply(1006, 3, RANGE(11, kv(KEY_A, 10))), outputs=[], timeout=1906),
           step(timeout(3500), outputs=[c.predecessor(11)], timeout=4000, state="waiting"),
           step(reply(3502, 4, RANGE(11, kv(KEY_A, 10))), outputs=[c.delete(11)],
                state="releasing"),
           step(reply(3504, 5, TXN(True, 12, [DELETED()])), outputs=[c.revoke()]),
           step(reply(3506, 6, REVOKED),
                outputs=[acquire_failed("deadline", 2506, queued=True)], state="failed")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("own_key_gone_at_confirmation_is_lost_never_acquired",
          "After the predecessor went, the confirm read finds our key missing (our lease expired on "
          "the server while we waited): lost with reason key_deleted and no hold, never acquired "
          "(the check etcd added after Jepsen's lock finding).",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12), DEL(KEY, 12))),
                   outputs=[c.predecessor(11)], timeout=3500),
              step(reply(3002, 5, RANGE(12)), outputs=[c.confirm()], timeout=3502),
              step(reply(3004, 6, RANGE(12)), outputs=[lost("key_deleted"), c.delete(11)],
                   timeout=3004 + RT, state="releasing", lock=None),
              step(reply(3006, 7, TXN(False, 12, [])), outputs=[c.revoke()]),
              step(reply(3008, 8, ERR("lease_not_found", "requested lease not found")),
                   outputs=[acquire_failed("lost", 3008 - T0, queued=True)], state="failed",
                   lock=None)])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("confirm_rejects_a_key_recreated_with_another_revision",
          "The confirm read finds our key name, but created at revision 15 (not our 11): it is "
          "not our queue entry any more: lost with key_deleted.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12))),
                   outputs=[c.predecessor(11)], timeout=3500),
              step(reply(3002, 5, RANGE(16)), outputs=[c.confirm()], timeout=3502),
              step(reply(3004, 6, RANGE(16, kv(KEY, 15, LEASE))),
                   outputs=[lost("key_deleted"), c.delete(11)], state="releasing"),
              step(reply(3006, 7, TXN(False, 16, [])), outputs=[c.revoke()]),
              step(reply(3008, 8, {"type": "lease_revoked"}),
                   outputs=[acquire_failed("lost", 3008 - T0, queued=True)], state="failed")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("own_lease_revoked_while_queued",
          "Waiting behind A, our keep-alive comes back with TTL 0 (the lease is gone on the server): "
          "lost at once (reason revoked, never held), the watch is closed, and the machine removes "
          "its queue entry by itself (nobody releases a lock they never got): the guarded delete "
          "finds nothing, the revoke says lease not found, the acquisition ends "
          "acquire_failed(lost). A release afterwards is INVALID_STATE.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
              step(reply(4340, 5, KEPT(0)),
                   outputs=[cancel(watch_req), lost("revoked"), c.delete(11)],
                   timeout=4340 + RT, state="releasing"),
              step(reply(4400, watch_req, WATCH(13, DEL(KEY, 13))), outputs=[],
                   state="releasing"),
              step(reply(4402, 6, TXN(False, 13, [])), outputs=[c.revoke()], timeout=4402 + RT),
              step(reply(4404, 7, ERR("lease_not_found", "requested lease not found")),
                   outputs=[acquire_failed("lost", 4404 - T0, queued=True)], timeout=None,
                   state="failed"),
              step(release(5000), error="INVALID_STATE", outputs=[])])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("own_validity_elapses_while_queued",
          "Waiting behind A, keep-alives get no answer: each times out (request_error) and is "
          "retried 100 ms later; at the validity end (grant sent at 1000 + 9898) the waiter is lost "
          "(expired, never held) before anything else that input would fire, the watch is "
          "closed, and the machine cleans up its queue entry by itself. A late watch event "
          "changes nothing; the cleanup gets no answer either and the acquisition ends "
          "acquire_failed(lost) after its bounded attempts.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
              step(timeout(4835), outputs=[timed_out(5)], timeout=4935),
              step(timeout(4935), outputs=[c.keepalive()], timeout=5435),
              step(timeout(VALID), outputs=[cancel(watch_req), lost("expired"), c.delete(11)],
                   timeout=VALID + RT, state="releasing"),
              step(reply(VALID + 5, watch_req, WATCH(20, DEL(KEY_A, 20))), outputs=[],
                   state="releasing", lock=None),
              step(reply(VALID + 7, 7, TXN(True, 21, [])), outputs=[c.revoke()],
                   timeout=VALID + 7 + RT),
              step(reply(VALID + 9, 8, ERR("lease_not_found", "requested lease not found")),
                   outputs=[acquire_failed("lost", VALID + 9 - T0, queued=True)],
                   state="failed", timeout=None)])


def mutex_session():
    c = Client()
    init_expect, grant = opening(c)
    v1 = 4335 + WINDOW
    v2 = 7673 + WINDOW
    mutex("keep_alive_cadence_a_third_of_the_ttl",
          "Keep-alives go out a third of the TTL after each acknowledgement (1002+3333, then "
          "4340+3333); each ack sets validity from that keep-alive's send time; with renewals "
          "the 80 % warning never fires.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)], timeout=4335),
           step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
           step(reply(4340, 3, KEPT()), outputs=[ev("kept_alive", valid_until=v1)], timeout=7673),
           step(timeout(7673), outputs=[c.keepalive()], timeout=8173),
           step(reply(7680, 4, KEPT()), outputs=[ev("kept_alive", valid_until=v2)],
                timeout=11013, lock=c.lock(10, 1004, v2)),
           step(timeout(11013), outputs=[c.keepalive()], timeout=11513, state="held")])

    c = Client()
    init_expect, grant = opening(c, rt=3000)
    mutex("delayed_keep_alive_ack_counts_from_its_send_time",
          "A keep-alive sent at 4335 is acknowledged only at 6000: the new validity is 4335 + 9898 "
          "(its send time), not 6000 + 9898; the next keep-alive is due 3333 after the ack; the "
          "warning point moves to 4335 + 8000.",
          config(request_timeout=3000), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)], timeout=4335),
           step(timeout(4335), outputs=[c.keepalive()], timeout=7335),
           step(reply(6000, 3, KEPT()), outputs=[ev("kept_alive", valid_until=4335 + WINDOW)],
                timeout=9333, lock=c.lock(10, 1004, 14233)),
           step(timeout(9333), outputs=[c.keepalive()], timeout=12333),
           step(timeout(12333), outputs=[timed_out(4, 3000)], timeout=4335 + 8000),
           step(timeout(12335), outputs=[ev("expiry_warning", valid_until=14233)],
                timeout=12433)])

    c = Client()
    init_expect, grant = opening(c)
    mutex("keep_alive_ttl_zero_is_lost_at_once",
          "While held, a keep-alive answered with TTL 0 (etcd: the lease is gone) is lost at once "
          "(reason revoked), well before the local validity ends; no silent re-acquire.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(timeout(4335), outputs=[c.keepalive()]),
           step(reply(4340, 3, KEPT(0)), outputs=[lost("revoked", 3336)], timeout=None,
                state="lost"),
           step(proclaim(4400, "x"), error="UNSUPPORTED_INPUT")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("keep_alive_lease_not_found_is_lost",
          "A keep-alive answered with etcd's 'requested lease not found' error is a lost lease "
          "(reason revoked) right away, after the request_error.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(timeout(4335), outputs=[c.keepalive()]),
           step(reply(4340, 3, ERR("lease_not_found", "requested lease not found")),
                outputs=[request_error(3, "lease_not_found", "requested lease not found"),
                         lost("revoked", 3336)], state="lost")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("keep_alive_failure_retries_after_base_delay",
          "A keep-alive that fails (server error) is retried retry.base_delay (100 ms) later, not a "
          "third of the TTL; the retry's ack renews from its own send time.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
           step(reply(4336, 3, ERR("server", "etcdserver: no leader")),
                outputs=[request_error(3, "server", "etcdserver: no leader")], timeout=4436,
                state="held"),
           step(timeout(4436), outputs=[c.keepalive()], timeout=4936),
           step(reply(4440, 4, KEPT()), outputs=[ev("kept_alive", valid_until=4436 + WINDOW)],
                timeout=4440 + KA)])

    c = Client()
    init_expect, grant = opening(c, rt=3000)
    mutex("lease_expires_mid_keep_alive",
          "Keep-alives go unanswered (request timeout 3000): each times out and is retried 100 ms "
          "later; the warning fires at 80 % of the TTL (9000); the validity ends (10898) while a "
          "keep-alive is still in flight: lost (expired, held 10898-1004), and that keep-alive's "
          "late ack is accepted and ignored: no renewal after loss.",
          config(request_timeout=3000), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)], timeout=4335),
           step(timeout(4335), outputs=[c.keepalive()], timeout=7335),
           step(timeout(7335), outputs=[timed_out(3, 3000)], timeout=7435),
           step(timeout(7435), outputs=[c.keepalive()], timeout=WARN),
           step(timeout(WARN), outputs=[ev("expiry_warning", valid_until=VALID)], timeout=10435),
           step(timeout(10435), outputs=[timed_out(4, 3000)], timeout=10535),
           step(timeout(10535), outputs=[c.keepalive()], timeout=VALID),
           step(timeout(VALID), outputs=[lost("expired", VALID - 1004)], timeout=None,
                state="lost"),
           step(reply(10900, 5, KEPT()), outputs=[], timeout=None, state="lost",
                lock=c.lock(10, 1004, VALID))])

    c = Client()
    init_expect, grant = opening(c)
    mutex("process_paused_past_validity_sees_lost_first",
          "The host stalls from 1004 to 20000 (GC, SIGSTOP): its first input after the pause "
          "yields 'lost' (expired, held until the validity end 10898) and nothing else: the "
          "keep-alive that was due at 4335 is never sent for a lease already past its validity.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(timeout(20000), outputs=[lost("expired", VALID - 1004)], timeout=None,
                state="lost")])


def mutex_release():
    c = Client()
    init_expect, grant = opening(c)
    mutex("stale_retried_unlock_is_guarded_by_our_revision",
          "Unlock is a guarded txn (create_revision == 10, then delete), never a bare delete. The "
          "first unlock's reply is lost: the retry (100 ms later) is the same guarded txn. The "
          "first one's late reply is ignored; the retry finds the key with another revision (a "
          "newer holder on the same lease, etcd #22082) and deletes nothing: already_expired.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(release(3000), outputs=[c.delete(10)], timeout=3500, state="releasing"),
           step(timeout(3500), outputs=[timed_out(3)], timeout=3600, state="releasing"),
           step(timeout(3600), outputs=[c.delete(10)], timeout=4100),
           step(reply(3601, 3, TXN(True, 11, [DELETED()])), outputs=[], timeout=4100),
           step(reply(3602, 4, TXN(False, 12, [])), outputs=[c.revoke()], timeout=4102),
           step(reply(3604, 5, REVOKED), outputs=[released("already_expired", 1996)],
                timeout=None, state="released")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("release_after_loss_leaves_the_successor_alone",
          "The process pauses past its validity, then releases: it is lost first (expired, held "
          "9894 ms), then the cleanup runs: the guarded delete fails harmlessly (the successor's "
          "key is another key, ours is gone) and the revoke finds no lease: already_expired.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(release(20000), outputs=[lost("expired", 9894), c.delete(10)], timeout=20500,
                state="releasing"),
           step(reply(20002, 3, TXN(False, 30, [])), outputs=[c.revoke()], timeout=20502),
           step(reply(20004, 4, ERR("lease_not_found", "requested lease not found")),
                outputs=[released("already_expired", 9894)], timeout=None, state="released"),
           step(release(20005), error="INVALID_STATE")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("release_unreachable_after_cleanup_attempts",
          "Release while etcd cannot be reached: the guarded delete is tried 3 times (retries "
          "100 then 200 ms after each failure), then the revoke 3 times; the outcome is "
          "unreachable (the key goes with the lease's TTL: keep-alives have stopped).",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(release(2000), outputs=[c.delete(10)], timeout=2500),
           step(reply(2001, 3, ERR("connection", "refused")),
                outputs=[request_error(3, "connection", "refused")], timeout=2101),
           step(timeout(2101), outputs=[c.delete(10)], timeout=2601),
           step(reply(2102, 4, ERR("connection", "refused")),
                outputs=[request_error(4, "connection", "refused")], timeout=2302),
           step(timeout(2302), outputs=[c.delete(10)], timeout=2802),
           step(reply(2303, 5, ERR("connection", "refused")),
                outputs=[request_error(5, "connection", "refused"), c.revoke()], timeout=2803),
           step(timeout(2803), outputs=[timed_out(6)], timeout=2903),
           step(timeout(2903), outputs=[c.revoke()], timeout=3403),
           step(reply(2904, 7, ERR("connection", "refused")),
                outputs=[request_error(7, "connection", "refused")], timeout=3104),
           step(timeout(3104), outputs=[c.revoke()], timeout=3604),
           step(reply(3105, 8, ERR("server", "etcdserver: request timed out")),
                outputs=[request_error(8, "server", "etcdserver: request timed out"),
                         released("unreachable", 996)], timeout=None, state="released")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("try_lock_contended_removes_its_key",
          "Try-lock: the txn shows A as owner: we do not wait; our key is removed (guarded delete, "
          "then revoke) BEFORE acquire_failed(locked) is reported, so no key of ours lingers while "
          "our session lives.",
          config(), mutex_init(try_lock=True), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.delete(11)],
                timeout=1504, state="releasing"),
           step(reply(1006, 3, TXN(True, 12, [DELETED()])), outputs=[c.revoke()], timeout=1506),
           step(reply(1008, 4, REVOKED), outputs=[acquire_failed("locked", 8, queued=True)],
                timeout=None, state="failed", lock=None)])

    c = Client()
    init_expect, grant = opening(c)
    mutex("try_lock_cleanup_retries_until_the_key_is_gone",
          "Try-lock whose cleanup delete fails once (connection): it is retried after 100 ms and "
          "the failure is only reported once the key is gone and the lease revoked. An "
          "uncontended try-lock would have been acquired by the same single txn.",
          config(), mutex_init(try_lock=True), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.delete(11)]),
           step(reply(1005, 3, ERR("connection", "reset")),
                outputs=[request_error(3, "connection", "reset")], timeout=1105,
                state="releasing"),
           step(timeout(1105), outputs=[c.delete(11)], timeout=1605),
           step(reply(1106, 4, TXN(True, 12, [DELETED()])), outputs=[c.revoke()]),
           step(reply(1107, 5, REVOKED), outputs=[acquire_failed("locked", 107, queued=True)],
                state="failed")])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10, watch_timeout=4000)
    mutex("acquire_deadline_while_waiting_removes_the_key",
          "With an acquire timeout of 3000 ms, the deadline (4000) arrives while we watch A: the "
          "watch is closed, our key deleted (guarded), the lease revoked, then acquire_failed "
          "(deadline).",
          config(), mutex_init(timeout=3000), init_expect,
          [grant] + steps + [
              step(timeout(4000), outputs=[cancel(watch_req), c.delete(11)], timeout=4500,
                   state="releasing"),
              step(reply(4002, 5, TXN(True, 12, [DELETED()])), outputs=[c.revoke()]),
              step(reply(4004, 6, REVOKED),
                   outputs=[acquire_failed("deadline", 3004, queued=True)], state="failed")])

    c = Client()
    mutex("cancel_while_granting_fails_at_once",
          "Release (cancel) while the grant is in flight: there is no lease or key to clean up: "
          "acquire_failed(cancelled) at once. The grant's late reply is accepted and ignored (that "
          "lease has no key and expires by itself); a second release is INVALID_STATE.",
          config(), mutex_init(),
          {"outputs": [c.grant()], "timeout": 1500, "state": "acquiring"},
          [step(release(1001), outputs=[acquire_failed("cancelled", 1)], timeout=None,
                state="failed"),
           step(reply(1003, 1, GRANTED()), outputs=[], state="failed"),
           step(release(1004), error="INVALID_STATE")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("cancel_while_txn_in_flight_revokes_the_lease",
          "Release (cancel) while the acquire txn is in flight: our revision is unknown, so there "
          "is no guarded delete; revoking the lease removes the key if the txn committed (and "
          "makes its put fail if not). The txn's late reply is ignored.",
          config(), mutex_init(), init_expect,
          [grant,
           step(release(1003), outputs=[c.revoke()], timeout=1503, state="releasing"),
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))), outputs=[]),
           step(reply(1005, 3, REVOKED), outputs=[acquire_failed("cancelled", 5)],
                state="failed", lock=None)])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("cancel_while_waiting_closes_the_watch_and_removes_the_key",
          "Release (cancel) while queued: the watch is closed, our key deleted (guarded), the "
          "lease revoked, then acquire_failed(cancelled).",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(release(2000), outputs=[cancel(watch_req), c.delete(11)], timeout=2500,
                   state="releasing"),
              step(reply(2002, 5, TXN(True, 12, [DELETED()])), outputs=[c.revoke()]),
              step(reply(2004, 6, REVOKED),
                   outputs=[acquire_failed("cancelled", 1004, queued=True)], state="failed")])


def mutex_failures():
    c = Client()
    mutex("grant_error_retries_with_backoff",
          "A failed grant (connection refused) is retried after the backoff (100 ms); the validity "
          "counts from the retried grant's send time (1102 + 9898).",
          config(), mutex_init(),
          {"outputs": [c.grant()], "timeout": 1500},
          [step(reply(1002, 1, ERR("connection", "connection refused")),
                outputs=[request_error(1, "connection", "connection refused")], timeout=1102,
                state="acquiring"),
           step(timeout(1102), outputs=[c.grant()], timeout=1602),
           step(reply(1104, 2, GRANTED()), outputs=[lease_granted(1102 + WINDOW), c.acquire()],
                timeout=1604),
           step(reply(1106, 3, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1106, 1102 + WINDOW, 106, retries=1)], state="held",
                timeout=1104 + KA)])

    c = Client()
    mutex("grant_attempts_exhausted",
          "max_attempts 3 bounds consecutive failures: two retries (after 100, then 200 ms), then "
          "acquire_failed(attempts_exhausted); with no lease there is nothing to clean up.",
          config(), mutex_init(),
          {"outputs": [c.grant()], "timeout": 1500},
          [step(reply(1002, 1, ERR("server", "etcdserver: no leader")),
                outputs=[request_error(1, "server", "etcdserver: no leader")], timeout=1102),
           step(timeout(1102), outputs=[c.grant()], timeout=1602),
           step(timeout(1602), outputs=[timed_out(2)], timeout=1802),
           step(timeout(1802), outputs=[c.grant()], timeout=2302),
           step(reply(1803, 3, ERR("connection", "refused")),
                outputs=[request_error(3, "connection", "refused"),
                         acquire_failed("attempts_exhausted", 803, retries=2)],
                timeout=None, state="failed")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("lost_txn_reply_retry_finds_its_place_in_the_queue",
          "The acquire txn's reply is lost (timeout): the retried txn takes the failure branch "
          "(our key already exists, created at 10) and reads our revision from it: we keep our "
          "place in the queue and hold with token 10. The first txn's late reply is ignored.",
          config(), mutex_init(), init_expect,
          [grant,
           step(timeout(1502), outputs=[timed_out(2)], timeout=1602, state="acquiring"),
           step(timeout(1602), outputs=[c.acquire()], timeout=2102),
           step(reply(1603, 2, created_txn(10, kv(KEY, 10, LEASE))), outputs=[], timeout=2102),
           step(reply(1604, 3, existing_txn(12, kv(KEY, 10, LEASE), kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1604, VALID, 604, retries=1)], state="held")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("acquire_txn_lease_not_found_is_lost",
          "The acquire txn fails with 'requested lease not found' (our lease expired between grant "
          "and txn): the queue place is lost (revoked), nothing is retried; with no create "
          "revision known, the cleanup is the revoke alone, then acquire_failed(lost).",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, ERR("lease_not_found", "requested lease not found")),
                outputs=[request_error(2, "lease_not_found", "requested lease not found"),
                         lost("revoked"), c.revoke()], timeout=1004 + RT, state="releasing"),
           step(reply(1006, 3, ERR("lease_not_found", "requested lease not found")),
                outputs=[acquire_failed("lost", 6)], timeout=None, state="failed")])

    c = Client()
    mutex("grant_reply_of_the_wrong_kind_is_a_protocol_error",
          "A range reply delivered for the grant request is a protocol error (request_error, "
          "never a panic), retried like any failure; so are a lease id of 0, one above 2^63-1, and "
          "a TTL of 0.",
          config(retry={"max_attempts": 5}), mutex_init(),
          {"outputs": [c.grant()], "timeout": 1500},
          [step(reply(1001, 1, RANGE(3)),
                outputs=[request_error(1, "protocol", "unexpected reply to lease_grant: range")],
                timeout=1101),
           step(timeout(1101), outputs=[c.grant()], timeout=1601),
           step(reply(1102, 2, GRANTED("0")),
                outputs=[request_error(2, "protocol",
                                       "lease_granted with a lease id outside 1..=2^63-1")],
                timeout=1302),
           step(timeout(1302), outputs=[c.grant()], timeout=1802),
           step(reply(1303, 3, GRANTED("9223372036854775808")),
                outputs=[request_error(3, "protocol",
                                       "lease_granted with a lease id outside 1..=2^63-1")],
                timeout=1703),
           step(timeout(1703), outputs=[c.grant()], timeout=2203),
           step(reply(1704, 4, GRANTED(ttl=0)),
                outputs=[request_error(4, "protocol", "lease_granted with TTL 0")],
                timeout=2504, state="acquiring")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("malformed_txn_reply_is_a_protocol_error",
          "An acquire txn reply without our key on its failure branch (or with the wrong number of "
          "results) is a protocol error: request_error, and the same txn is retried.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, TXN(False, 12, [RANGE_R(), RANGE_R(kv(KEY_A, 10))])),
                outputs=[request_error(2, "protocol", "acquire txn reply lacks our key's revision "
                                                      "or the owner range")],
                timeout=1104),
           step(timeout(1104), outputs=[c.acquire()], timeout=1604),
           step(reply(1105, 3, TXN(True, 12, [PUT()])),
                outputs=[request_error(3, "protocol", "acquire txn reply lacks our key's revision "
                                                      "or the owner range")],
                timeout=1305, state="acquiring")])

    c = Client()
    init_expect, grant = opening(c)
    mutex("predecessor_read_error_and_bogus_predecessor_retry",
          "A failed predecessor read is retried after the backoff; a read that returns a key "
          "created after ours is a protocol error (the server must never do that), retried too.",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(11, kv(KEY_A, 10))), outputs=[c.predecessor(11)]),
           step(reply(1006, 3, ERR("server", "etcdserver: leader changed")),
                outputs=[request_error(3, "server", "etcdserver: leader changed")],
                timeout=1106, state="waiting"),
           step(timeout(1106), outputs=[c.predecessor(11)], timeout=1606),
           step(reply(1107, 4, RANGE(12, kv(KEY_B, 12))),
                outputs=[request_error(4, "protocol",
                                       "predecessor range returned a key not created before ours")],
                timeout=1307),
           step(timeout(1307), outputs=[c.predecessor(11)], timeout=1807),
           step(reply(1308, 5, RANGE(12)), outputs=[c.confirm()], timeout=1808),
           step(reply(1309, 6, RANGE(12, kv(KEY, 11, LEASE))),
                outputs=[acquired(c, 11, 1309, VALID, 309, retries=2, queued=True)])])

    c = Client()
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    mutex("reply_at_its_deadline_is_too_late",
          "Deadlines fire before the input is applied: a confirm reply arriving exactly at its "
          "request deadline (sent 3002 + 500) is a timeout first; the reply is then a late one, "
          "ignored; the confirm is retried after the backoff.",
          config(), mutex_init(), init_expect,
          [grant] + steps + [
              step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12))),
                   outputs=[c.predecessor(11)]),
              step(reply(3002, 5, RANGE(12)), outputs=[c.confirm()], timeout=3502),
              step(reply(3502, 6, RANGE(12, kv(KEY, 11, LEASE))), outputs=[timed_out(6)],
                   timeout=3602, state="waiting"),
              step(timeout(3602), outputs=[c.confirm()], timeout=4102),
              step(reply(3603, 7, RANGE(12, kv(KEY, 11, LEASE))),
                   outputs=[acquired(c, 11, 3603, VALID, 2603, retries=1, queued=True)])])


def mutex_usage():
    c = Client()
    init_expect, grant = opening(c)
    mutex("duplicate_unknown_and_backwards_inputs_are_rejected",
          "Usage errors leave the machine unchanged: a second reply to the acquire txn "
          "(DUPLICATE_REPLY), request ids 0 and 99 (UNKNOWN_REQUEST), time going backwards "
          "(NON_MONOTONIC_TIME), a time at 2^53 (TIME_OUT_OF_RANGE), proclaim on a mutex "
          "(UNSUPPORTED_INPUT).",
          config(), mutex_init(), init_expect,
          [grant,
           step(reply(1004, 2, created_txn(10, kv(KEY, 10, LEASE))),
                outputs=[acquired(c, 10, 1004, VALID, 4)]),
           step(reply(1005, 2, created_txn(10, kv(KEY, 10, LEASE))), error="DUPLICATE_REPLY"),
           step(reply(1005, 0, REVOKED), error="UNKNOWN_REQUEST"),
           step(reply(1005, 99, REVOKED), error="UNKNOWN_REQUEST"),
           step(timeout(1003), error="NON_MONOTONIC_TIME"),
           step(timeout(9_007_199_254_740_992), error="TIME_OUT_OF_RANGE"),
           step(proclaim(1005, "v"), error="UNSUPPORTED_INPUT"),
           step(timeout(1005), outputs=[], timeout=4335, state="held")])

    errors = [
        ("config_ttl_zero", "ttl_secs 0 is INVALID_TTL.", config(ttl_secs=0), mutex_init(),
         "INVALID_TTL"),
        ("config_ttl_too_long", "ttl_secs above 2147483 (2^31 ms) is INVALID_TTL.",
         config(ttl_secs=2_147_484), mutex_init(), "INVALID_TTL"),
        ("config_request_timeout_too_long", "request_timeout above a third of the validity "
         "window (9898 / 3 = 3299) is INVALID_NODE_TIMEOUT.", config(request_timeout=3300),
         mutex_init(), "INVALID_NODE_TIMEOUT"),
        ("config_request_timeout_zero", "request_timeout 0 is INVALID_NODE_TIMEOUT.",
         config(request_timeout=0), mutex_init(), "INVALID_NODE_TIMEOUT"),
        ("config_poll_interval_zero", "A poll interval of 0 is INVALID_WAIT.",
         config(wait={"type": "poll", "interval": 0}), mutex_init(), "INVALID_WAIT"),
        ("config_watch_recheck_too_long", "A watch recheck above one hour is INVALID_WAIT.",
         config(wait={"type": "watch", "recheck": 3_600_001}), mutex_init(), "INVALID_WAIT"),
        ("config_empty_name", "An empty lock name is EMPTY_RESOURCE.", config(),
         mutex_init(name=""), "EMPTY_RESOURCE"),
        ("config_name_too_long", "A 513-byte lock name is RESOURCE_TOO_LONG.", config(),
         mutex_init(name="n" * 513), "RESOURCE_TOO_LONG"),
        ("config_acquire_timeout_zero", "An acquire timeout of 0 is INVALID_TIMEOUT.", config(),
         mutex_init(timeout=0), "INVALID_TIMEOUT"),
        ("config_drift_too_large", "drift_ppm above 500000 is INVALID_DRIFT.",
         config(drift_ppm=500_001), mutex_init(), "INVALID_DRIFT"),
        ("config_zero_attempts", "max_attempts 0 is INVALID_RETRY.",
         config(retry={"max_attempts": 0}), mutex_init(), "INVALID_RETRY"),
        ("config_start_time_out_of_range", "A start time at 2^53 is TIME_OUT_OF_RANGE.",
         config(), mutex_init(now=9_007_199_254_740_992), "TIME_OUT_OF_RANGE"),
    ]
    for name, description, cfg, ini, code in errors:
        mutex(f"mutex_{name}", f"Mutex: {description}", cfg, ini, {"error": code})

    c = Client()
    mutex("defaults_derive_timeouts_from_the_ttl",
          "With only ttl_secs given, the request timeout defaults to a third of the validity "
          "window capped at 2000 ms (the grant's deadline is 1000 + 2000) and the watch recheck "
          "to the TTL.",
          {"ttl_secs": 10}, mutex_init(),
          {"outputs": [c.grant()], "timeout": 3000, "state": "acquiring"})


# --------------------------------------------------------------- the election

def election_stories():
    c = Client(value="node-1")
    init_expect, grant = opening(c)
    election("campaign_proclaim_resign",
             "Campaign uncontended: one txn puts our key with the value 'node-1': elected (token "
             "10). Proclaim is a put guarded by create_revision == 10; resign is the guarded "
             "delete, then the revoke.",
             config(), election_init(), init_expect,
             [grant,
              step(reply(1004, 2, created_txn(10, kv(c.key, 10, LEASE, "node-1"))),
                   outputs=[acquired(c, 10, 1004, VALID, 4)], state="held"),
              step(proclaim(2000, "node-1b"), outputs=[c.proclaim(10, "node-1b")],
                   timeout=2500, state="proclaiming"),
              step(proclaim(2001, "again"), error="INVALID_STATE"),
              step(reply(2002, 3, TXN(True, 11, [PUT()])),
                   outputs=[ev("proclaimed", value="node-1b")], timeout=4335, state="held"),
              step(release(3000), outputs=[c.delete(10)], timeout=3500, state="releasing"),
              step(reply(3002, 4, TXN(True, 12, [DELETED()])), outputs=[c.revoke()]),
              step(reply(3004, 5, REVOKED), outputs=[released("released", 1996)],
                   state="released")])

    c = Client(value="node-2")
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10, header=12)
    p2 = c.predecessor(11)
    w1 = c.watch(KEY_A, 15)
    election("campaign_waiter_does_not_replay_the_leaders_last_write",
             "Queued behind leader A, whose last proclaim was at revision 12, the read's "
             "revision: the watch starts at 13, after everything the read already reflects, "
             "so the waiter is not woken by A's own last write (a watch from 12 would replay "
             "it at once, again after every read: a busy loop while A leads). A's next "
             "proclaim (14) wakes it once; the read shows A still first; it watches from 15.",
             config(), election_init(value="node-2"), init_expect,
             [grant] + steps + [
                 step(reply(3000, watch_req, WATCH(14, PUTEV(KEY_A, 10, 14, "node-1b", LEASE_A))),
                      outputs=[p2], state="waiting"),
                 step(reply(3002, 5, RANGE(14, kv(KEY_A, 10, LEASE_A, "node-1b", mod=14))),
                      outputs=[w1], state="waiting")])

    c = Client(value="node-2")
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    election("campaign_queued_then_elected",
             "A leads (10); our campaign (11) waits on A's key only; A resigns; our key is "
             "confirmed: elected with token 11.",
             config(), election_init(value="node-2"), init_expect,
             [grant] + steps + [
                 step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12))),
                      outputs=[c.predecessor(11)]),
                 step(reply(3002, 5, RANGE(12)), outputs=[c.confirm()]),
                 step(reply(3004, 6, RANGE(12, kv(c.key, 11, LEASE, "node-2"))),
                      outputs=[acquired(c, 11, 3004, VALID, 2004, queued=True)],
                      state="held", lock=c.lock(11, 3004, VALID))])

    c = Client(value="node-2")
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    election("campaigner_lease_expired_while_queued_is_lost_never_leader",
             "Phantom leadership (etcd #19597): our lease expires while we wait behind A (no "
             "keep-alive gets through; the server deletes our key). Go's Campaign would still "
             "return success once A goes; here the campaign ends lost (expired) at the validity "
             "end, removes its own campaign key and lease, and ends acquire_failed(lost); the "
             "events that follow elect nobody.",
             config(), election_init(value="node-2"), init_expect,
             [grant] + steps + [
                 step(timeout(4335), outputs=[c.keepalive()], timeout=4835),
                 step(reply(4336, 5, ERR("connection", "partitioned")),
                      outputs=[request_error(5, "connection", "partitioned")], timeout=4436),
                 step(timeout(VALID), outputs=[cancel(watch_req), lost("expired"), c.delete(11)],
                      timeout=VALID + RT, state="releasing"),
                 step(reply(VALID + 2, 6, TXN(False, 13, [])), outputs=[c.revoke()]),
                 step(reply(VALID + 4, 7, ERR("lease_not_found", "requested lease not found")),
                      outputs=[acquire_failed("lost", VALID + 4 - T0, queued=True)],
                      state="failed", timeout=None),
                 step(reply(12000, watch_req, WATCH(30, DEL(KEY_A, 30))), outputs=[],
                      state="failed", lock=None)])

    c = Client(value="node-2")
    init_expect, grant = opening(c)
    steps, watch_req = queued_behind(c, 11, KEY_A, 10)
    election("campaigner_key_gone_at_confirmation_is_lost",
             "A leads and goes; the confirm read finds our campaign key gone (our session expired "
             "on the server): lost (key_deleted), never leader, where Go's Campaign returns nil. "
             "The campaign cleans up by itself; a proclaim meanwhile is INVALID_STATE (it was "
             "never leader).",
             config(), election_init(value="node-2"), init_expect,
             [grant] + steps + [
                 step(reply(3000, watch_req, WATCH(12, DEL(KEY_A, 12))),
                      outputs=[c.predecessor(11)]),
                 step(reply(3002, 5, RANGE(13)), outputs=[c.confirm()]),
                 step(reply(3004, 6, RANGE(13)), outputs=[lost("key_deleted"), c.delete(11)],
                      state="releasing", timeout=3004 + RT),
                 step(proclaim(3005, "x"), error="INVALID_STATE", outputs=[]),
                 step(reply(3006, 7, TXN(False, 13, [])), outputs=[c.revoke()]),
                 step(reply(3008, 8, REVOKED),
                      outputs=[acquire_failed("lost", 3008 - T0, queued=True)], state="failed")])

    c = Client(value="node-1")
    init_expect, grant = opening(c)
    election("proclaim_after_losing_leadership_is_lost",
             "Our key was removed behind our back (an operator deleted it; a successor leads): the "
             "guarded proclaim's compare fails (succeeded absent = false): lost (key_deleted), "
             "not a silent overwrite of the new leader. A later proclaim is LEASE_LOST; resign "
             "cleans up without touching the new leader's key.",
             config(), election_init(), init_expect,
             [grant,
              step(reply(1004, 2, created_txn(10, kv(c.key, 10, LEASE, "node-1"))),
                   outputs=[acquired(c, 10, 1004, VALID, 4)]),
              step(proclaim(2000, "node-1b"), outputs=[c.proclaim(10, "node-1b")]),
              step(reply(2002, 3, TXN(False, 15, [])), outputs=[lost("key_deleted", 998)],
                   state="lost", timeout=None),
              step(proclaim(2003, "node-1c"), error="LEASE_LOST"),
              step(release(2004), outputs=[c.delete(10)], state="releasing"),
              step(reply(2005, 4, TXN(False, 15, [])), outputs=[c.revoke()]),
              step(reply(2006, 5, REVOKED), outputs=[released("already_expired", 998)],
                   state="released")])

    c = Client(value="node-1")
    init_expect, grant = opening(c)
    election("proclaim_without_answer_keeps_leadership",
             "A proclaim that times out reports proclaim_failed (applied or not is unknown) and we "
             "stay leader; a proclaim failing with lease_not_found loses the lease (revoked). "
             "Invalid values are INVALID_VALUE; proclaim before election is INVALID_STATE.",
             config(), election_init(), init_expect,
             [step(proclaim(1001, "early"), error="INVALID_STATE"),
              grant,
              step(reply(1004, 2, created_txn(10, kv(c.key, 10, LEASE, "node-1"))),
                   outputs=[acquired(c, 10, 1004, VALID, 4)]),
              step(proclaim(1100, ""), error="INVALID_VALUE"),
              step(proclaim(1100, "a\nb"), error="INVALID_VALUE"),
              step(proclaim(1100, "node-1b"), outputs=[c.proclaim(10, "node-1b")],
                   timeout=1600),
              step(timeout(1600), outputs=[timed_out(3), ev("proclaim_failed", value="node-1b")],
                   state="held", timeout=4335),
              step(proclaim(1700, "node-1c"), outputs=[c.proclaim(10, "node-1c")]),
              step(reply(1701, 4, ERR("lease_not_found", "requested lease not found")),
                   outputs=[request_error(4, "lease_not_found", "requested lease not found"),
                            lost("revoked", 697)], state="lost")])

    c = Client(value="node-1")
    init_expect, grant = opening(c)
    election("stale_resign_does_not_delete_the_new_leader",
             "Resign after our lease ran out while paused: lost first (expired), then the guarded "
             "delete (create_revision == 10) fails against the new leader's key: already_expired; "
             "the new leader keeps its key.",
             config(), election_init(), init_expect,
             [grant,
              step(reply(1004, 2, created_txn(10, kv(c.key, 10, LEASE, "node-1"))),
                   outputs=[acquired(c, 10, 1004, VALID, 4)]),
              step(release(15000), outputs=[lost("expired", 9894), c.delete(10)],
                   state="releasing"),
              step(reply(15001, 3, TXN(False, 40, [])), outputs=[c.revoke()]),
              step(reply(15002, 4, REVOKED), outputs=[released("already_expired", 9894)],
                   state="released")])

    election("election_config_empty_value",
             "Election: an empty campaign value is INVALID_VALUE.", config(),
             election_init(value=""), {"error": "INVALID_VALUE"})
    election("election_config_value_too_long",
             "Election: a campaign value above 4096 bytes is INVALID_VALUE.", config(),
             election_init(value="v" * 4097), {"error": "INVALID_VALUE"})


# ---------------------------------------------------------------- the observer

def leader(key, revision, lease, value):
    return {"key": key, "revision": revision, "lease": lease, "value": value}


def observer_stories():
    c = Client()
    observer("leader_once_without_leader",
             "Leader (once): one range of the first-created key under name/; none: leader null, "
             "done.",
             config(), observe_init(),
             {"outputs": [c.leader_range()], "timeout": 1500, "state": "observing",
              "leader": None},
             [step(reply(1002, 1, RANGE(7)), outputs=[ev("leader", leader=None)], timeout=None,
                   state="done"),
              step(release(1003), error="INVALID_STATE")])

    c = Client()
    observer("leader_once_is_the_first_created_key",
             "Leader (once): the first-created key is the leader, whoever wrote it (ours or a Go "
             "campaigner's); its create revision is its token.",
             config(), observe_init(),
             {"outputs": [c.leader_range()], "timeout": 1500},
             [step(reply(1002, 1, RANGE(7, kv(KEY_A, 5, LEASE_A, "10.0.0.1:80"))),
                   outputs=[ev("leader", leader=leader(KEY_A, 5, LEASE_A, "10.0.0.1:80"))],
                   timeout=None, state="done",
                   leader=leader(KEY_A, 5, LEASE_A, "10.0.0.1:80"))])

    c = Client()
    la = leader(KEY_A, 5, LEASE_A, "a1")
    la2 = leader(KEY_A, 5, LEASE_A, "a2")
    lb = leader(KEY_B, 6, LEASE_B, "b1")
    observer("observe_reports_each_new_leader",
             "Observe: after each read, watch the whole prefix from the read's revision + 1, then "
             "read again. A proclaim (new value) and a new leader are reported; a change that does "
             "not touch the leader (a new campaigner queueing) is not.",
             config(), observe_init(follow=True),
             {"outputs": [c.leader_range()], "timeout": 1500},
             [step(reply(1002, 1, RANGE(7, kv(KEY_A, 5, LEASE_A, "a1"))),
                   outputs=[ev("leader", leader=la), c.watch(f"{NAME}/", 8, f"{NAME}0")],
                   timeout=1002 + RECHECK, state="observing"),
              step(reply(1500, 2, WATCH(8, PUTEV(KEY_C, 8, 8, "c1", LEASE_C))),
                   outputs=[c.leader_range()], timeout=2000),
              step(reply(1502, 3, RANGE(8, kv(KEY_A, 5, LEASE_A, "a1"))),
                   outputs=[c.watch(f"{NAME}/", 9, f"{NAME}0")], timeout=6502),
              step(reply(2000, 4, WATCH(9, PUTEV(KEY_A, 5, 9, "a2", LEASE_A))),
                   outputs=[c.leader_range()]),
              step(reply(2002, 5, RANGE(9, kv(KEY_A, 5, LEASE_A, "a2", 9, 2))),
                   outputs=[ev("leader", leader=la2), c.watch(f"{NAME}/", 10, f"{NAME}0")]),
              step(reply(3000, 6, WATCH(11, DEL(KEY_A, 10))), outputs=[c.leader_range()]),
              step(reply(3002, 7, RANGE(11, kv(KEY_B, 6, LEASE_B, "b1"))),
                   outputs=[ev("leader", leader=lb), c.watch(f"{NAME}/", 12, f"{NAME}0")],
                   leader=lb),
              step(release(3500), outputs=[cancel(8)], timeout=None, state="done"),
              step(reply(3600, 8, WATCH(13, DEL(KEY_B, 13))), outputs=[], state="done")])

    c = Client()
    observer("observe_poll_mode_and_compaction",
             "Observe in poll mode reads every interval; in watch mode a compacted watch just reads "
             "again. Here: poll every 1000 ms; the leader appears on the second read.",
             config(wait={"type": "poll", "interval": 1000}), observe_init(follow=True),
             {"outputs": [c.leader_range()], "timeout": 1500},
             [step(reply(1002, 1, RANGE(3)), outputs=[ev("leader", leader=None)], timeout=2002),
              step(timeout(2002), outputs=[c.leader_range()], timeout=2502),
              step(reply(2004, 2, RANGE(4, kv(KEY_A, 4, LEASE_A, "a1"))),
                   outputs=[ev("leader", leader=leader(KEY_A, 4, LEASE_A, "a1"))],
                   timeout=3004),
              step(timeout(3004), outputs=[c.leader_range()]),
              step(reply(3006, 3, RANGE(4, kv(KEY_A, 4, LEASE_A, "a1"))), outputs=[],
                   timeout=4006)])

    c = Client()
    observer("observe_watch_compacted_and_recheck",
             "Observe in watch mode: a compacted watch reads again at once; a watch with no news "
             "for the recheck interval is closed and the leader read again.",
             config(), observe_init(follow=True),
             {"outputs": [c.leader_range()]},
             [step(reply(1002, 1, RANGE(7)), outputs=[ev("leader", leader=None),
                                                      c.watch(f"{NAME}/", 8, f"{NAME}0")]),
              step(reply(1100, 2, {"type": "watch_compacted", "compact_revision": 50}),
                   outputs=[c.leader_range()]),
              step(reply(1102, 3, RANGE(60)), outputs=[c.watch(f"{NAME}/", 61, f"{NAME}0")],
                   timeout=1102 + RECHECK),
              step(timeout(6102), outputs=[cancel(4), c.leader_range()], timeout=6602),
              step(reply(6103, 5, RANGE(60)), outputs=[c.watch(f"{NAME}/", 61, f"{NAME}0")])])

    c = Client()
    observer("observe_gives_up_after_consecutive_failures",
             "Failed reads are retried with the backoff (100, then 200 ms); after max_attempts (3) "
             "consecutive failures the observer ends with observe_failed. Proclaim is "
             "UNSUPPORTED_INPUT.",
             config(), observe_init(follow=True),
             {"outputs": [c.leader_range()]},
             [step(proclaim(1001, "x"), error="UNSUPPORTED_INPUT"),
              step(reply(1002, 1, ERR("connection", "refused")),
                   outputs=[request_error(1, "connection", "refused")], timeout=1102),
              step(timeout(1102), outputs=[c.leader_range()], timeout=1602),
              step(timeout(1602), outputs=[timed_out(2)], timeout=1802),
              step(timeout(1802), outputs=[c.leader_range()]),
              step(reply(1803, 3, TXN(True, 3, [])),
                   outputs=[request_error(3, "protocol", "unexpected reply to range: txn"),
                            ev("observe_failed", reason="attempts_exhausted")],
                   timeout=None, state="failed")])


def main():
    mutex_basics()
    mutex_queue()
    mutex_session()
    mutex_release()
    mutex_failures()
    mutex_usage()
    election_stories()
    observer_stories()
    write_vectors(OUT)


if __name__ == "__main__":
    main()
