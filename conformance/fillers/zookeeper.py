#!/usr/bin/env python3
"""Writes the ZooKeeper conformance vectors (conformance/vectors/zookeeper/*.json):
the lock and the leader election on the ephemeral-sequential recipe.

Each story states its expectations by hand, from DESIGN.md 4.3, the transitions in
core/src/zookeeper/mod.rs and ZooKeeper's recipes.md: every time below is computed
here from the spec's rules, never read back from the core:
- validity = send time of the latest request the server answered + session timeout
  - drift (drift = ceil(T * ppm / 1e6) + 2), starting at the start time;
- our node is checked (exists) a third of the session timeout after the last
  server answer, while we watch or hold; a failed check is retried base_delay later;
- a request times out request_timeout after it was sent; lock-track retries wait
  base_delay * 2^(k-1); cleanup deletes retry the same way, without a limit;
- the expiry warning comes at 80 % of the session timeout into a validity period.

JSON id rule: session ids and zxids (so the czxid token) are decimal strings.

Run: python3 conformance/fillers/zookeeper.py   (rewrites the folder)
"""

import os

from common import drift, ev, release, reply, step, timeout, vector, write_vectors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "zookeeper")

T0 = 1000
T = 10_000  # negotiated session timeout, ms
RT = 500  # request_timeout
RECHECK = 5000
BASE = 100  # retry base delay


WINDOW = T - drift(T)  # 9898
CHECK = T // 3  # 3333
WARN = T * 4 // 5  # 8000

P = "/locks/orders"
GUID = "e3a1c2f0-2b7d-4c55-9a1e-0f6b8d2c4e17"
PREFIX = f"{P}/{GUID}-lock-"
S = "72057831385464832"  # 0x100003743040000: a real session id, above 2^53
OTHER = "144115188075855873"
TOKEN = "4294967301"  # epoch 1, counter 5
A = "aaaa-lock-0000000001"
B = "_c_bbbb-lock-0000000002"  # a Curator contender
C = "cccc-lock-0000000004"


def seq(n):
    return f"{n:010d}"


def ours(n):
    return f"{GUID}-lock-{seq(n)}"


def path(name):
    return f"{P}/{name}"


def config(**overrides):
    cfg = {
        "drift_ppm": 10_000,
        "request_timeout": RT,
        "recheck": RECHECK,
        "retry": {"max_attempts": 3, "base_delay": BASE, "max_delay": 1600,
                  "backoff": "exponential", "jitter": 0},
        "rng_seed": 7,
    }
    for key, value in overrides.items():
        if key == "retry":
            cfg["retry"] = {**cfg["retry"], **value}
        else:
            cfg[key] = value
    return cfg


def lock_init(now=T0, path_=P, guid=GUID, session=S, session_timeout=T, value="",
              timeout=None, try_lock=False):
    return {"now": now, "path": path_, "guid": guid, "session": session,
            "session_timeout": session_timeout, "value": value, "timeout": timeout,
            "try_lock": try_lock}


def election_init(now=T0, path_=P, guid=GUID, session=S, session_timeout=T, value="node-1",
                  timeout=None):
    return {"now": now, "path": path_, "guid": guid, "session": session,
            "session_timeout": session_timeout, "value": value, "timeout": timeout}


# ----------------------------------------------------------------- vocabulary

class Client:
    """The exact commands one machine emits, allocating request ids in order."""

    def __init__(self, data=""):
        self.data = data
        self.next_req = 1

    def _cmd(self, kind, **fields):
        req = self.next_req
        self.next_req += 1
        return {"command": {"type": kind, "req": req, **fields}}

    def create(self):
        return self._cmd("create", path=PREFIX, data=self.data, mode="ephemeral_sequential")

    def ensure_path(self):
        return self._cmd("ensure_path", path=P)

    def children(self):
        return self._cmd("get_children", path=P)

    def watch(self, name):
        return self._cmd("get_data", path=path(name), watch=True)

    def exists(self, name):
        return self._cmd("exists", path=path(name), watch=False)

    def delete(self, name):
        return self._cmd("delete", path=path(name))


def stats(latency, retries=0, queued=False):
    return {"latency": latency, "retries": retries, "queued": queued}


def lock(name, token, acquired_at, valid_until):
    return {"path": path(name), "token": token, "session": S, "acquired_at": acquired_at,
            "valid_until": valid_until}


def acquired(name, token, at, valid_until, latency, retries=0, queued=False):
    return ev("acquired", lock=lock(name, token, at, valid_until),
              stats=stats(latency, retries, queued))


def acquire_failed(reason, latency, retries=0, queued=False):
    return ev("acquire_failed", reason=reason, stats=stats(latency, retries, queued))


def node_created(name):
    return ev("node_created", path=path(name))


def lost(reason, held_for=None):
    return ev("lost", reason=reason, held_for=held_for)


def released(outcome, held_for):
    return ev("released", outcome=outcome, held_for=held_for)


def request_error(req, kind, message=""):
    return ev("request_error", req=req, kind=kind, message=message)


def timed_out(req, rt=RT):
    return request_error(req, "timeout", f"no reply within {rt} ms")


# inputs and replies

def watch(now, req, event="deleted"):
    return {"type": "watch", "now": now, "req": req, "event": event}


def disconnected(now):
    return {"type": "disconnected", "now": now}


def connected(now, session=S):
    return {"type": "connected", "now": now, "session": session}


def session_expired(now):
    return {"type": "session_expired", "now": now}


def STAT(czxid=TOKEN, owner=S):
    return {"czxid": czxid, "ephemeral_owner": owner}


def CREATED(name, stat=None):
    return {"type": "created", "path": path(name), "stat": stat}


OK = {"type": "ok"}


def CHILDREN(*names):
    return {"type": "children", "children": list(names)}


def STATR(czxid=TOKEN, owner=S):
    return {"type": "stat", "stat": STAT(czxid, owner)}


def ERR(kind, message=""):
    return {"type": "error", "kind": kind, "message": message}


def lock_vector(name, description, cfg, init, expect_init, steps=()):
    vector("zookeeper_lock", name, description, cfg, init, expect_init, steps)


def election_vector(name, description, cfg, init, expect_init, steps=()):
    vector("zookeeper_election", name, description, cfg, init, expect_init, steps)


def opening(c, n=3, stat=True):
    """init (create sent at T0) and the create's reply at 1002 (listing sent)."""
    init_expect = {"outputs": [c.create()], "timeout": T0 + RT, "state": "acquiring",
                   "lock": None}
    created = step(reply(1002, 1, CREATED(ours(n), STAT() if stat else None)),
                   outputs=[node_created(ours(n)), c.children()],
                   timeout=1002 + RT, state="acquiring")
    return init_expect, created


def held(c, n=3):
    """The uncontended opening: held at 1004 (listing sent at 1002 answered)."""
    init_expect, created = opening(c, n)
    valid = 1002 + WINDOW  # 10900
    steps = [created,
             step(reply(1004, 2, CHILDREN(ours(n))),
                  outputs=[acquired(ours(n), TOKEN, 1004, valid, 4)],
                  timeout=1004 + CHECK, state="held", lock=lock(ours(n), TOKEN, 1004, valid))]
    return init_expect, steps, valid


def queued(c, n=2, pred=A, others=()):
    """The listing shows pred just below us: watch it (set at 1006)."""
    init_expect, created = opening(c, n)
    steps = [created,
             step(reply(1004, 2, CHILDREN(ours(n), pred, *others)),
                  outputs=[c.watch(pred)], timeout=1004 + RT, state="waiting"),
             step(reply(1006, 3, STATR("4294967297", OTHER)), outputs=[],
                  timeout=min(1006 + CHECK, 1006 + RECHECK), state="waiting")]
    return init_expect, steps


# ------------------------------------------------------------------- the lock

def lock_basics():
    c = Client()
    init_expect, steps, valid = held(c)
    check_valid = 4337 + WINDOW  # the check sent at 4337 was answered
    lock_vector(
        "uncontended_acquire_check_release",
        "Uncontended: create (EPHEMERAL_SEQUENTIAL, reply with stat), list the children "
        "without a watch: ours is the lowest, so held with token = czxid, a decimal string. "
        "Validity counts from the send time of the latest answered request (1002 + 10000 - "
        "102). Our node is checked with exists a third of the session timeout after the last "
        "answer; the check's answer moves validity on. Release deletes our node.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(4337), outputs=[c.exists(ours(3))], timeout=4337 + RT, state="held"),
            step(reply(4340, 3, STATR()), outputs=[ev("checked", valid_until=check_valid)],
                 timeout=4340 + CHECK, state="held",
                 lock=lock(ours(3), TOKEN, 1004, check_valid)),
            step(release(5000), outputs=[c.delete(ours(3))], timeout=5000 + RT,
                 state="releasing"),
            step(reply(5002, 4, OK), outputs=[released("released", 3996)], timeout=None,
                 state="released", lock=lock(ours(3), TOKEN, 1004, check_valid))])

    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "release_whose_delete_reply_was_lost_is_released",
        "The delete's reply is lost (connection loss, e.g. a leader failing over): it may "
        "have run. The retry finds no node: that is our own delete, so the outcome is "
        "released, not already_expired (as ZooKeeper's recipes treat a retried delete).",
        config(), lock_init(), init_expect,
        steps + [
            step(release(3000), outputs=[c.delete(ours(3))], state="releasing"),
            step(reply(3002, 3, ERR("connection", "ConnectionLoss")),
                 outputs=[request_error(3, "connection", "ConnectionLoss")],
                 state="releasing"),
            step(timeout(3500), outputs=[c.delete(ours(3))], state="releasing"),
            step(reply(3502, 4, ERR("no_node", "NoNode")),
                 outputs=[released("released", 1996)], state="released")])

    c = Client()
    init_expect, created = opening(c, 3, stat=False)
    lock_vector(
        "create_without_stat_confirms_owner_with_exists",
        "A client whose create returns only the path (no create2 stat, like "
        "node-zookeeper-client): once ours is the lowest, exists(our node) reads its stat "
        "first; it is owned by our session, and its czxid is the token. Three round trips.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(ours(3))), outputs=[c.exists(ours(3))],
              timeout=1004 + RT, state="acquiring"),
         step(reply(1006, 3, STATR()),
              outputs=[acquired(ours(3), TOKEN, 1006, 1004 + WINDOW, 6)],
              timeout=1006 + CHECK, state="held")])

    c = Client()
    init_expect, created = opening(c, 4)
    lock_vector(
        "lowest_contender_holds_other_children_ignored",
        "Children that are not contenders (no -lock-/__lock__ + 10-digit suffix) are ignored; "
        "a Curator node (_c_<uuid>-lock-) and a kazoo node (__lock__) with higher sequences "
        "queue behind ours: ours (sequence 4) is the lowest, so the lock is held.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN("readme", "_c_9f9f-lock-0000000009", ours(4),
                                      "leases", "f00d__lock__0000000007",
                                      "abc-lock-000000001")),
              outputs=[acquired(ours(4), TOKEN, 1004, 1002 + WINDOW, 4)], state="held")])

    c = Client()
    lock_vector(
        "token_is_czxid_not_the_sequence",
        "The parent was deleted and recreated, so the sequence restarted at 0000000000, but "
        "our node's czxid (epoch 3) is far above any earlier holder's: the token is the czxid "
        "12884901890, never the sequence suffix (zk-ruby/zk#34).",
        config(), lock_init(),
        {"outputs": [c.create()], "timeout": T0 + RT, "state": "acquiring"},
        [step(reply(1002, 1, CREATED(ours(0), STAT("12884901890"))),
              outputs=[node_created(ours(0)), c.children()], timeout=1502),
         step(reply(1004, 2, CHILDREN(ours(0))),
              outputs=[acquired(ours(0), "12884901890", 1004, 1002 + WINDOW, 4)],
              lock=lock(ours(0), "12884901890", 1004, 1002 + WINDOW))])

    big = "9007203549708293"  # (2^21 + 1) << 32 | 5, above 2^53
    c = Client()
    lock_vector(
        "czxid_above_2_53_is_carried_exactly",
        "A czxid above 2^53 (epoch 2^21 + 1) and a session id above 2^53 travel as decimal "
        "strings and come back exactly in the token.",
        config(), lock_init(),
        {"outputs": [c.create()], "timeout": 1500},
        [step(reply(1002, 1, CREATED(ours(3), STAT(big))),
              outputs=[node_created(ours(3)), c.children()]),
         step(reply(1004, 2, CHILDREN(ours(3))),
              outputs=[acquired(ours(3), big, 1004, 1002 + WINDOW, 4)],
              lock=lock(ours(3), big, 1004, 1002 + WINDOW))])

    c = Client()
    lock_vector(
        "missing_parent_is_created_first",
        "The lock path does not exist yet: the create fails with no_node, so ensure_path "
        "creates it (and its parents), then the create is sent again.",
        config(), lock_init(),
        {"outputs": [c.create()], "timeout": 1500},
        [step(reply(1002, 1, ERR("no_node", "NoNode")), outputs=[c.ensure_path()],
              timeout=1502, state="acquiring"),
         step(reply(1004, 2, OK), outputs=[c.create()], timeout=1504),
         step(reply(1006, 3, CREATED(ours(0), STAT())),
              outputs=[node_created(ours(0)), c.children()], timeout=1506),
         step(reply(1008, 4, CHILDREN(ours(0))),
              outputs=[acquired(ours(0), TOKEN, 1008, 1006 + WINDOW, 8)], state="held")])


def lock_queue():
    c = Client()
    init_expect, created = opening(c, 3)
    lock_vector(
        "waiter_watches_only_the_next_lowest_and_relists",
        "A (1) holds, B (2, a Curator waiter), ours (3), C (4): we watch only B, not A (no "
        "herd). B leaves (a waiter, not the holder): we list again and now watch A, never "
        "acquiring while A exists. A's delete wakes us: the lowest, held. While watching, our "
        "node is checked a third of the session timeout after the last answer.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(C, ours(3), A, B, "readme")),
              outputs=[c.watch(B)], timeout=1504, state="waiting"),
         step(reply(1006, 3, STATR("4294967298", OTHER)), outputs=[],
              timeout=1006 + CHECK, state="waiting"),
         step(watch(1500, 3, "deleted"), outputs=[c.children()], timeout=2000,
              state="waiting"),
         step(reply(1502, 4, CHILDREN(A, ours(3), C)), outputs=[c.watch(A)], timeout=2002),
         step(reply(1504, 5, STATR("4294967297", OTHER)), outputs=[],
              timeout=1504 + CHECK, state="waiting"),
         step(watch(2000, 5, "deleted"), outputs=[c.children()], timeout=2500),
         step(reply(2002, 6, CHILDREN(ours(3), C)),
              outputs=[acquired(ours(3), TOKEN, 2002, 2000 + WINDOW, 1002, queued=True)],
              timeout=2002 + CHECK, state="held")])

    c = Client()
    init_expect, created = opening(c, 2)
    lock_vector(
        "predecessor_gone_before_the_watch_is_set",
        "The predecessor is deleted between our listing and our get_data: get_data answers "
        "no_node (and leaves no watch behind), so we list again at once and hold the lock.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(A, ours(2))), outputs=[c.watch(A)], state="waiting"),
         step(reply(1006, 3, ERR("no_node", "NoNode")), outputs=[c.children()],
              timeout=1506, state="waiting"),
         step(reply(1008, 4, CHILDREN(ours(2))),
              outputs=[acquired(ours(2), TOKEN, 1008, 1006 + WINDOW, 8, queued=True)],
              state="held")])

    c = Client()
    init_expect, created = opening(c, 2)
    lock_vector(
        "watch_fires_before_the_get_data_reply",
        "The host delivers the watch notification before get_data's reply: we list again at "
        "once; the get_data reply that follows is accepted and ignored; a second notification "
        "for the same watch is DUPLICATE_REPLY; a notification naming a request that set no "
        "watch is UNKNOWN_REQUEST.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(A, ours(2))), outputs=[c.watch(A)], state="waiting"),
         step(watch(1005, 3, "deleted"), outputs=[c.children()], timeout=1505),
         step(reply(1006, 3, STATR("4294967297", OTHER)), outputs=[], timeout=1505),
         step(watch(1006, 3, "deleted"), error="DUPLICATE_REPLY"),
         step(watch(1006, 2, "deleted"), error="UNKNOWN_REQUEST"),
         step(watch(1006, 9, "deleted"), error="UNKNOWN_REQUEST"),
         step(reply(1007, 4, CHILDREN(ours(2))),
              outputs=[acquired(ours(2), TOKEN, 1007, 1005 + WINDOW, 7, queued=True)],
              state="held")])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "silent_watch_relists_after_recheck",
        "A watch whose notification never comes delays the waiter, never strands it: the "
        "check of our own node keeps validity; after recheck ms without a notification the "
        "children are listed again and the predecessor watched anew. The old watch firing "
        "later is ignored.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(4339), outputs=[c.exists(ours(2))], timeout=4839, state="waiting"),
            step(reply(4341, 4, STATR()), outputs=[], timeout=1006 + RECHECK, state="waiting"),
            step(timeout(6006), outputs=[c.children()], timeout=6506),
            step(reply(6008, 5, CHILDREN(A, ours(2))), outputs=[c.watch(A)], timeout=6508),
            step(watch(6100, 3, "deleted"), outputs=[], timeout=6508, state="waiting"),
            step(watch(6101, 6, "deleted"), outputs=[c.children()], timeout=6601),
            step(reply(6102, 7, CHILDREN(ours(2))),
                 outputs=[acquired(ours(2), TOKEN, 6102, 6101 + WINDOW, 5102, queued=True)],
                 state="held")])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "own_node_missing_from_listing_is_lost",
        "While we wait, our node disappears (deleted by someone, or with our session): the "
        "next listing does not show it, so the place in the queue is lost, never acquired; "
        "with the node already gone there is nothing to clean up and the acquisition ends "
        "acquire_failed(lost) at once. A release afterwards is INVALID_STATE.",
        config(), lock_init(), init_expect,
        steps + [
            step(watch(2000, 3, "deleted"), outputs=[c.children()]),
            step(reply(2002, 4, CHILDREN("zzzz-lock-0000000005")),
                 outputs=[lost("node_deleted"), acquire_failed("lost", 1002, queued=True)],
                 timeout=None, state="failed", lock=None),
            step(release(2100), error="INVALID_STATE", outputs=[])])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "reconnected_while_waiting_checks_our_node",
        "A disconnection while queued changes nothing visible; on reconnection in our session "
        "our node is checked at once, and the children are listed again (a watch may not "
        "survive the lost connection: kazoo does not set it again), so the predecessor is "
        "watched anew.",
        config(), lock_init(), init_expect,
        steps + [
            step(disconnected(2000), outputs=[], timeout=1006 + RECHECK, state="waiting"),
            step(connected(2100), outputs=[c.exists(ours(2)), c.children()], timeout=2600,
                 state="waiting"),
            step(reply(2102, 4, STATR()), outputs=[], state="waiting"),
            step(reply(2103, 5, CHILDREN(A, ours(2))), outputs=[c.watch(A)], state="waiting")])


def lock_recovery():
    c = Client()
    lock_vector(
        "lost_create_reply_found_again_by_guid",
        "The create's reply is lost (connection loss): it may have happened. After the retry "
        "delay we list the children and find our node by its guid; no stat is known, so "
        "exists confirms it is owned by our session before the lock is held.",
        config(), lock_init(),
        {"outputs": [c.create()], "timeout": 1500, "state": "acquiring"},
        [step(reply(1100, 1, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(1, "connection", "ConnectionLoss")], timeout=1200,
              state="acquiring"),
         step(timeout(1200), outputs=[c.children()], timeout=1700),
         step(reply(1202, 2, CHILDREN("zzzz-lock-0000000006", ours(5))),
              outputs=[node_created(ours(5)), c.exists(ours(5))], timeout=1702),
         step(reply(1204, 3, STATR()),
              outputs=[acquired(ours(5), TOKEN, 1204, 1202 + WINDOW, 204, retries=1)],
              state="held")])

    c = Client()
    lock_vector(
        "create_timeout_not_found_creates_again",
        "The create gets no reply within request_timeout. The listing after the retry delay "
        "runs after it on the same session, so a node it created would show: none does, so "
        "the create is sent again. The first create's late reply is accepted and ignored.",
        config(), lock_init(),
        {"outputs": [c.create()], "timeout": 1500},
        [step(timeout(1500), outputs=[timed_out(1)], timeout=1600),
         step(timeout(1600), outputs=[c.children()], timeout=2100),
         step(reply(1602, 2, CHILDREN(A)), outputs=[c.create()], timeout=2102),
         step(reply(1603, 1, ERR("connection", "ConnectionLoss")), outputs=[], timeout=2102),
         step(reply(1604, 3, CREATED(ours(2), STAT())),
              outputs=[node_created(ours(2)), c.children()], timeout=2104),
         step(reply(1606, 4, CHILDREN(A, ours(2))), outputs=[c.watch(A)], state="waiting")])

    c = Client()
    lock_vector(
        "duplicate_guid_nodes_keep_the_lowest_delete_the_rest",
        "After a failed create, the listing shows two nodes with our guid (a retried create "
        "that went through twice): the lowest is ours, the other is deleted (fire and forget, "
        "no timeout, its answer ignored) so it can never block anyone.",
        config(), lock_init(),
        {"outputs": [c.create()]},
        [step(reply(1100, 1, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(1, "connection", "ConnectionLoss")], timeout=1200),
         step(timeout(1200), outputs=[c.children()]),
         step(reply(1202, 2, CHILDREN(ours(6), "zzzz-lock-0000000005", ours(4))),
              outputs=[node_created(ours(4)), c.delete(ours(6)), c.exists(ours(4))],
              timeout=1702),
         step(reply(1203, 3, OK), outputs=[], timeout=1702),
         step(reply(1204, 4, STATR()),
              outputs=[acquired(ours(4), TOKEN, 1204, 1202 + WINDOW, 204, retries=1)],
              state="held")])

    c = Client()
    lock_vector(
        "unexpected_reply_is_a_protocol_error_and_retried",
        "A reply of the wrong kind for a create (children) is a protocol error: reported, and "
        "handled like a failed create (the listing looks for our guid after the retry delay). "
        "A created path that is not ours is refused the same way.",
        config(), lock_init(),
        {"outputs": [c.create()]},
        [step(reply(1002, 1, CHILDREN()),
              outputs=[request_error(1, "protocol", "unexpected reply to create: children")],
              timeout=1102),
         step(timeout(1102), outputs=[c.children()], timeout=1602),
         step(reply(1104, 2, CHILDREN()), outputs=[c.create()], timeout=1604),
         step(reply(1106, 3, CREATED("other-lock-0000000001", STAT())),
              outputs=[request_error(3, "protocol",
                                     f'created "{P}/other-lock-0000000001", not '
                                     f'{PREFIX}<10-digit sequence>')],
              timeout=1206),
         step(timeout(1206), outputs=[c.children()])])

    c = Client()
    init_expect, created = opening(c, 3)
    lock_vector(
        "listing_failures_exhaust_attempts_and_delete_our_node",
        "Every listing fails: retried after 100 then 200 ms; the third consecutive failure "
        "reaches max_attempts (3), so the acquisition gives up, deleting our node first.",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(2, "connection", "ConnectionLoss")], timeout=1104),
         step(timeout(1104), outputs=[c.children()], timeout=1604),
         step(reply(1106, 3, ERR("server", "NoAuth")),
              outputs=[request_error(3, "server", "NoAuth")], timeout=1306),
         step(timeout(1306), outputs=[c.children()], timeout=1806),
         step(timeout(1806), outputs=[timed_out(4), c.delete(ours(3))], timeout=2306,
              state="releasing"),
         step(reply(1808, 5, OK),
              outputs=[acquire_failed("attempts_exhausted", 808, retries=2)],
              timeout=None, state="failed")])


def lock_giving_up():
    c = Client()
    init_expect, created = opening(c, 2)
    lock_vector(
        "try_lock_held_elsewhere_deletes_its_node",
        "Try-lock: another node is lower, so our node is deleted before the try-lock fails "
        "with locked (kazoo #732: a contender node must never stay behind).",
        config(), lock_init(try_lock=True), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(A, ours(2))), outputs=[c.delete(ours(2))],
              timeout=1504, state="releasing"),
         step(reply(1006, 3, OK), outputs=[acquire_failed("locked", 6, queued=True)],
              timeout=None, state="failed", lock=None)])

    c = Client()
    init_expect, created = opening(c, 2)
    lock_vector(
        "try_lock_delete_is_retried_until_confirmed",
        "The try-lock's delete keeps failing: it is retried with the backoff (100, 200, 400 "
        "ms), beyond max_attempts, until ZooKeeper confirms; only then does the try-lock "
        "report locked (CURATOR-678 / kazoo #732: never give up on our own node while the "
        "session lives).",
        config(), lock_init(try_lock=True), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(A, ours(2))), outputs=[c.delete(ours(2))]),
         step(reply(1006, 3, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(3, "connection", "ConnectionLoss")], timeout=1106,
              state="releasing"),
         step(timeout(1106), outputs=[c.delete(ours(2))], timeout=1606),
         step(timeout(1606), outputs=[timed_out(4)], timeout=1806),
         step(timeout(1806), outputs=[c.delete(ours(2))], timeout=2306),
         step(reply(1810, 5, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(5, "connection", "ConnectionLoss")], timeout=2210),
         step(timeout(2210), outputs=[c.delete(ours(2))], timeout=2710),
         step(reply(2212, 6, OK), outputs=[acquire_failed("locked", 1212, queued=True)],
              state="failed")])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "acquire_deadline_while_waiting_deletes_our_node",
        "The acquire deadline (3000 ms) passes while we wait: our node is deleted, then "
        "acquire_failed{deadline}. The old watch firing meanwhile is accepted and ignored.",
        config(), lock_init(timeout=3000), init_expect,
        steps[:-1] + [
            step(reply(1006, 3, STATR("4294967297", OTHER)), outputs=[], timeout=4000,
                 state="waiting"),
            step(timeout(4000), outputs=[c.delete(ours(2))], timeout=4500, state="releasing"),
            step(watch(4001, 3, "deleted"), outputs=[], state="releasing"),
            step(reply(4002, 4, OK),
                 outputs=[acquire_failed("deadline", 3002, queued=True)], timeout=None,
                 state="failed")])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "release_while_waiting_cancels_and_deletes",
        "release while queued cancels: our node is deleted, then acquire_failed{cancelled}; "
        "a second release is INVALID_STATE.",
        config(), lock_init(), init_expect,
        steps + [
            step(release(2000), outputs=[c.delete(ours(2))], state="releasing"),
            step(release(2001), error="INVALID_STATE"),
            step(reply(2002, 4, ERR("no_node", "NoNode")),
                 outputs=[acquire_failed("cancelled", 1002, queued=True)], state="failed"),
            step(release(2003), error="INVALID_STATE")])

    c = Client()
    lock_vector(
        "cancel_before_the_create_answers_finds_the_node_by_guid",
        "release before the create has answered: the create may still happen. The children "
        "listing (answered after the create: one session, in order) finds our node by its "
        "guid and deletes it. The create's late reply is accepted and ignored.",
        config(), lock_init(),
        {"outputs": [c.create()]},
        [step(release(1001), outputs=[c.children()], timeout=1501, state="releasing"),
         step(reply(1002, 1, CREATED(ours(3), STAT())), outputs=[], state="releasing"),
         step(reply(1003, 2, CHILDREN(A, ours(3))), outputs=[c.delete(ours(3))],
              timeout=1503),
         step(reply(1005, 3, OK), outputs=[acquire_failed("cancelled", 5)], timeout=None,
              state="failed")])

    c = Client()
    lock_vector(
        "cancel_before_the_create_answers_nothing_found",
        "release before the create answered, and the listing shows no node of ours (the "
        "create never happened): acquire_failed{cancelled} at once.",
        config(), lock_init(),
        {"outputs": [c.create()]},
        [step(release(1001), outputs=[c.children()], state="releasing"),
         step(reply(1003, 2, CHILDREN(A)), outputs=[acquire_failed("cancelled", 3)],
              timeout=None, state="failed"),
         step(reply(1004, 1, ERR("connection", "ConnectionLoss")), outputs=[],
              state="failed")])


def lock_session():
    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "session_expired_while_holding",
        "The session expires while we hold the lock: lost{session_expired}. Its ephemeral "
        "node went with it, so release deletes nothing: released{already_expired}.",
        config(), lock_init(), init_expect,
        steps + [
            step(session_expired(3000), outputs=[lost("session_expired", 1996)],
                 timeout=None, state="lost"),
            step(release(3100), outputs=[released("already_expired", 1996)],
                 state="released")])

    c = Client()
    init_expect, steps = queued(c, 2)
    lock_vector(
        "session_expired_while_queued",
        "The session expires while we wait: lost{session_expired} with held_for null, never "
        "acquired; our node went with the session, so the acquisition ends "
        "acquire_failed(lost) at once; the watch firing afterwards is ignored.",
        config(), lock_init(), init_expect,
        steps + [
            step(session_expired(2000),
                 outputs=[lost("session_expired"), acquire_failed("lost", 1000, queued=True)],
                 timeout=None, state="failed", lock=None),
            step(watch(2001, 3, "deleted"), outputs=[], state="failed"),
            step(release(2002), error="INVALID_STATE", outputs=[])])

    c = Client()
    init_expect, created = opening(c, 3)
    lock_vector(
        "session_expired_error_mid_acquisition",
        "The listing fails with session_expired: reported, and the acquisition is lost "
        "(the session, and our node with it, is gone): acquire_failed(lost).",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, ERR("session_expired", "SessionExpired")),
              outputs=[request_error(2, "session_expired", "SessionExpired"),
                       lost("session_expired"), acquire_failed("lost", 4)],
              timeout=None, state="failed")])

    c = Client()
    init_expect, steps, valid = held(c)
    recheck_valid = 2500 + WINDOW
    lock_vector(
        "disconnected_holder_is_uncertain_until_rechecked",
        "Held, then the connection drops: uncertain (stop relying on the lock), no checks "
        "while disconnected. Reconnected in the same session: our node is checked at once; "
        "its stat (our session, same czxid) makes it held again, validity from the check's "
        "send time.",
        config(), lock_init(), init_expect,
        steps + [
            step(disconnected(2000), outputs=[ev("uncertain", valid_until=valid)],
                 timeout=1002 + WARN, state="uncertain"),
            step(connected(2500), outputs=[c.exists(ours(3))], timeout=3000,
                 state="uncertain"),
            step(reply(2502, 3, STATR()), outputs=[ev("checked", valid_until=recheck_valid)],
                 timeout=2502 + CHECK, state="held",
                 lock=lock(ours(3), TOKEN, 1004, recheck_valid))])

    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "reconnected_in_another_session_is_lost",
        "Held, disconnected, then connected in ANOTHER session: ours expired meanwhile, and "
        "its node with it: lost{session_expired}; release deletes nothing.",
        config(), lock_init(), init_expect,
        steps + [
            step(disconnected(2000), outputs=[ev("uncertain", valid_until=valid)]),
            step(connected(2500, OTHER), outputs=[lost("session_expired", 1496)],
                 timeout=None, state="lost"),
            step(release(2600), outputs=[released("already_expired", 1496)],
                 state="released")])

    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "disconnected_past_validity_is_lost",
        "Held, disconnected, never reconnected: the expiry warning comes at 80 % of the "
        "session timeout after the last answered send, and the lock is lost at valid_until "
        "(the session may have expired by then). Release still deletes our node; "
        "session_expired answers it: released{already_expired}.",
        config(), lock_init(), init_expect,
        steps + [
            step(disconnected(2000), outputs=[ev("uncertain", valid_until=valid)]),
            step(timeout(1002 + WARN), outputs=[ev("expiry_warning", valid_until=valid)],
                 timeout=valid, state="uncertain"),
            step(timeout(valid), outputs=[lost("expired", valid - 1004)], timeout=None,
                 state="lost"),
            step(release(11000), outputs=[c.delete(ours(3))], timeout=11500,
                 state="releasing"),
            step(reply(11002, 3, ERR("session_expired", "SessionExpired")),
                 outputs=[request_error(3, "session_expired", "SessionExpired"),
                          released("already_expired", valid - 1004)],
                 timeout=None, state="released")])

    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "paused_process_sees_lost_first",
        "Held, a check is in flight, then the process pauses for 19 s. The first input after "
        "the pause (the check's reply) finds validity over: lost{expired} comes first, "
        "held_for ends at valid_until, and the stale reply counts for nothing.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(4337), outputs=[c.exists(ours(3))]),
            step(reply(20000, 3, STATR()), outputs=[lost("expired", valid - 1004)],
                 timeout=None, state="lost", lock=lock(ours(3), TOKEN, 1004, valid))])

    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "node_deleted_while_holding_is_found_by_the_check",
        "Someone deletes our node while we hold the lock: the next check answers no_node: "
        "lost{node_deleted}; release deletes nothing.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(4337), outputs=[c.exists(ours(3))]),
            step(reply(4340, 3, ERR("no_node", "NoNode")),
                 outputs=[lost("node_deleted", 3336)], timeout=None, state="lost"),
            step(release(4400), outputs=[released("already_expired", 3336)],
                 state="released")])

    c = Client()
    init_expect, created = opening(c, 3, stat=False)
    lock_vector(
        "node_of_another_session_is_never_ours",
        "The node with our guid is owned by another session (one of ours that ended while "
        "the host had not said so yet): the owner check before acquiring refuses it: "
        "lost{owner_mismatch}, never held (CURATOR-604); it is not deleted (it goes with its "
        "session), and the acquisition ends acquire_failed(lost).",
        config(), lock_init(), init_expect,
        [created,
         step(reply(1004, 2, CHILDREN(ours(3))), outputs=[c.exists(ours(3))]),
         step(reply(1006, 3, STATR(TOKEN, OTHER)),
              outputs=[lost("owner_mismatch"), acquire_failed("lost", 6)],
              timeout=None, state="failed", lock=None),
         step(release(1100), error="INVALID_STATE", outputs=[])])

    c = Client()
    init_expect, steps, valid = held(c)
    retry_valid = 4440 + WINDOW
    lock_vector(
        "failed_check_is_retried_and_validity_kept",
        "A check fails with connection loss: reported, the lock stays held on its current "
        "validity, and the check is retried base_delay (100 ms) later; its answer moves "
        "validity on.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(4337), outputs=[c.exists(ours(3))]),
            step(reply(4340, 3, ERR("connection", "ConnectionLoss")),
                 outputs=[request_error(3, "connection", "ConnectionLoss")], timeout=4440,
                 state="held"),
            step(timeout(4440), outputs=[c.exists(ours(3))], timeout=4940),
            step(reply(4442, 4, STATR()), outputs=[ev("checked", valid_until=retry_valid)],
                 timeout=4442 + CHECK, state="held")])

    c = Client()
    valid = 1002 + WINDOW
    lock_vector(
        "unanswered_checks_warn_then_lose",
        "Checks go unanswered (request_timeout 3000): each is reported and retried 100 ms "
        "later; the expiry warning fires at 80 % of the session timeout after the last "
        "answered send (1002 + 8000), and the lock is lost at valid_until, before the check "
        "in flight could answer. Its late reply is ignored.",
        config(request_timeout=3000), lock_init(),
        {"outputs": [c.create()], "timeout": 4000},
        [step(reply(1002, 1, CREATED(ours(3), STAT())),
              outputs=[node_created(ours(3)), c.children()], timeout=4002),
         step(reply(1004, 2, CHILDREN(ours(3))),
              outputs=[acquired(ours(3), TOKEN, 1004, valid, 4)], timeout=4337),
         step(timeout(4337), outputs=[c.exists(ours(3))], timeout=7337),
         step(timeout(7337), outputs=[timed_out(3, 3000)], timeout=7437),
         step(timeout(7437), outputs=[c.exists(ours(3))], timeout=9002),
         step(timeout(9002), outputs=[ev("expiry_warning", valid_until=valid)],
              timeout=10437),
         step(timeout(10437), outputs=[timed_out(4, 3000)], timeout=10537),
         step(timeout(10537), outputs=[c.exists(ours(3))], timeout=valid),
         step(timeout(valid), outputs=[lost("expired", valid - 1004)], timeout=None,
              state="lost"),
         step(reply(11000, 5, STATR()), outputs=[], state="lost")])


def lock_usage():
    c = Client()
    init_expect, steps, valid = held(c)
    lock_vector(
        "usage_errors_leave_the_machine_unchanged",
        "Time going backwards, a time above 2^53 - 1, an unknown request, a second reply, a "
        "watch for a request that set none, and a connected input with session 0 are usage "
        "errors with stable codes; the machine is unchanged and emits nothing.",
        config(), lock_init(), init_expect,
        steps + [
            step(timeout(900), error="NON_MONOTONIC_TIME"),
            step(timeout(2 ** 53), error="TIME_OUT_OF_RANGE"),
            step(reply(1005, 9, OK), error="UNKNOWN_REQUEST"),
            step(reply(1005, 0, OK), error="UNKNOWN_REQUEST"),
            step(reply(1005, 2, CHILDREN(ours(3))), error="DUPLICATE_REPLY"),
            step(watch(1005, 2), error="UNKNOWN_REQUEST"),
            step(connected(1005, "0"), error="INVALID_SESSION"),
            step(timeout(1005), outputs=[], timeout=4337, state="held"),
            step(connected(1006), outputs=[], timeout=4337, state="held")])

    def bad(name, description, code, cfg=None, **init):
        lock_vector(name, description, cfg or config(), lock_init(**init), {"error": code})

    bad("config_relative_path", "A lock path must be absolute: 'locks/orders' is INVALID_NAME.",
        "INVALID_NAME", path_="locks/orders")
    bad("config_path_trailing_slash", "A ZooKeeper path must not end with '/': INVALID_NAME.",
        "INVALID_NAME", path_="/locks/orders/")
    bad("config_path_empty_component", "An empty path component ('//') is INVALID_NAME.",
        "INVALID_NAME", path_="/locks//orders")
    bad("config_path_dot_component", "A '.' or '..' path component is INVALID_NAME.",
        "INVALID_NAME", path_="/locks/../orders")
    bad("config_path_under_zookeeper", "/zookeeper is reserved by ZooKeeper: INVALID_NAME.",
        "INVALID_NAME", path_="/zookeeper/locks")
    bad("config_path_control_character",
        "ZooKeeper refuses control characters (and NUL) in paths: INVALID_NAME.",
        "INVALID_NAME", path_="/locks/or\u0001ders")
    bad("config_path_root", "The root cannot be a lock path: INVALID_NAME.", "INVALID_NAME",
        path_="/")
    bad("config_path_empty", "An empty lock path is EMPTY_RESOURCE.", "EMPTY_RESOURCE",
        path_="")
    bad("config_path_too_long", "A lock path above 512 bytes is RESOURCE_TOO_LONG.",
        "RESOURCE_TOO_LONG", path_="/" + "x" * 512)
    bad("config_guid_with_slash",
        "The guid becomes part of a node name: only [A-Za-z0-9_-], 1 to 64 bytes "
        "(INVALID_VALUE).", "INVALID_VALUE", guid="a/b")
    bad("config_session_zero", "Session id 0 is the owner of persistent nodes, never a "
        "session: INVALID_SESSION.", "INVALID_SESSION", session="0")
    bad("config_session_timeout_zero", "A session timeout of 0 is INVALID_TTL.",
        "INVALID_TTL", session_timeout=0)
    bad("config_request_timeout_above_a_third",
        "request_timeout must not exceed a third of the validity window (9898 / 3 = 3299): "
        "INVALID_NODE_TIMEOUT.", "INVALID_NODE_TIMEOUT", cfg=config(request_timeout=3300))
    bad("config_recheck_zero", "A recheck of 0 ms is INVALID_WAIT.", "INVALID_WAIT",
        cfg=config(recheck=0))
    bad("config_acquire_timeout_zero",
        "A ZooKeeper lock with an acquire timeout of 0 is INVALID_TIMEOUT.",
        "INVALID_TIMEOUT", timeout=0)
    bad("config_value_with_control_character",
        "Node data with a control character is INVALID_VALUE.", "INVALID_VALUE",
        value="a\nb")


def election_stories():
    c = Client(data="node-1")
    init_expect, steps, valid = held(c)
    election_vector(
        "elected_when_lowest_then_resign",
        "An election on the same recipe: our node's data is our value (node-1), so anyone "
        "reads the leader's identity from the lowest node. Lowest and owned by our session: "
        "elected (acquired). Resign deletes our node.",
        config(), election_init(), init_expect,
        steps + [
            step(release(3000), outputs=[c.delete(ours(3))], state="releasing"),
            step(reply(3002, 3, OK), outputs=[released("released", 1996)],
                 state="released")])

    c = Client(data="node-1")
    election_vector(
        "old_session_node_never_elected",
        "A campaign whose create reply was lost finds a node with its guid, but it belongs "
        "to an earlier session of ours (about to be deleted by its expiry): the owner check "
        "refuses it, the campaign is lost and never reports leadership (CURATOR-696).",
        config(), election_init(),
        {"outputs": [c.create()], "state": "acquiring"},
        [step(reply(1100, 1, ERR("connection", "ConnectionLoss")),
              outputs=[request_error(1, "connection", "ConnectionLoss")], timeout=1200),
         step(timeout(1200), outputs=[c.children()]),
         step(reply(1202, 2, CHILDREN(ours(1), "zzzz-lock-0000000002")),
              outputs=[node_created(ours(1)), c.exists(ours(1))]),
         step(reply(1204, 3, STATR("4294967296", OTHER)),
              outputs=[lost("owner_mismatch"), acquire_failed("lost", 204, retries=1)],
              timeout=None, state="failed", lock=None),
         step(release(1300), error="INVALID_STATE", outputs=[])])

    c = Client(data="node-1")
    init_expect, steps = queued(c, 2)
    election_vector(
        "campaign_waits_behind_the_leader",
        "A campaign behind the current leader watches only it; when the leader resigns we "
        "list again and are elected.",
        config(), election_init(), init_expect,
        steps + [
            step(watch(3000, 3, "deleted"), outputs=[c.children()]),
            step(reply(3002, 4, CHILDREN(ours(2))),
                 outputs=[acquired(ours(2), TOKEN, 3002, 3000 + WINDOW, 2002, queued=True)],
                 state="held")])

    election_vector(
        "config_election_value_required",
        "An election needs a value (our identity, stored in our node): empty is "
        "INVALID_VALUE.", config(), election_init(value=""), {"error": "INVALID_VALUE"})


def main():
    lock_basics()
    lock_queue()
    lock_recovery()
    lock_giving_up()
    lock_session()
    lock_usage()
    election_stories()
    write_vectors(OUT)


if __name__ == "__main__":
    main()
