#!/usr/bin/env python3
"""Writes the Redlock conformance vectors (conformance/vectors/redlock/*.json).

Each story below states its expectations by hand, from DESIGN.md 4.1 and the
rules in conformance/README.md: times are computed here from the spec's formulas
(drift = ceil(ttl * ppm / 1e6) + 2, valid_until = start + ttl - drift, ...), and
the jitter comes from this file's own SplitMix64. The vectors are an oracle
independent of the core; the core's runner (and every binding's) must match them.

Run: python3 conformance/fillers/redlock.py   (rewrites the folder)
"""

import os

from common import drift, ev, release, reply, step, timeout, write_vectors
from common import vector as _vector

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "redlock")
MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


TTL = 10_000
WINDOW = TTL - drift(TTL, 10_000)  # 9898
NT = 50  # node_timeout used by most stories
T0 = 1000


def config(nodes, **overrides):
    cfg = {
        "nodes": nodes,
        "ttl": TTL,
        "drift_ppm": 10_000,
        "node_timeout": NT,
        "retry": {"max_attempts": 3, "base_delay": 100, "max_delay": 1600,
                  "backoff": "exponential", "jitter": 0},
        "rng_seed": 7,
        "auto_extend": False,
        "fencing": True,
        "namespace": "fencelock",
    }
    for key, value in overrides.items():
        if key == "retry":
            cfg["retry"] = {**cfg["retry"], **value}
        else:
            cfg[key] = value
    return cfg


class Lock:
    """Builds the exact commands a lock emits, allocating request ids in order."""

    def __init__(self, nodes, resources=("orders:42",), value="v-1", ttl=TTL,
                 ns="fencelock", fencing=True):
        self.nodes = nodes
        self.resources = sorted(resources)
        self.base_value = value
        self.value = value
        self.attempt = 1
        self.ttl = ttl
        self.locks = [f"{ns}:lock:{{{r}}}" for r in self.resources]
        self.fences = [f"{ns}:fence:{{{r}}}" for r in self.resources] if fencing else []
        self.next_req = 1

    def next_attempt(self):
        """A retry writes its own value, `<value>.<attempt>` (the first attempt writes
        the value itself), so a late release of an earlier attempt cannot delete it."""
        self.attempt += 1
        self.value = f"{self.base_value}.{self.attempt}"

    def _cmd(self, node, script, keys, args):
        req = self.next_req
        self.next_req += 1
        return {"command": {"type": "eval", "req": req, "node": node, "script": script,
                            "keys": keys, "args": args}}

    def acquire(self, node):
        return self._cmd(node, "acquire", self.locks + self.fences,
                         [self.value, str(self.ttl), str(len(self.resources))])

    def extend(self, node):
        return self._cmd(node, "extend", self.locks, [self.value, str(self.ttl)])

    def release(self, node):
        return self._cmd(node, "release", self.locks, [self.value])

    def fence(self, node, token):
        return self._cmd(node, "fence", self.locks + self.fences,
                         [self.value, str(token), str(len(self.resources))])

    def all(self, kind):
        return [getattr(self, kind)(n) for n in range(self.nodes)]

    def lease(self, acquired_at, valid_until, token):
        return {"resources": self.resources, "value": self.value, "acquired_at": acquired_at,
                "valid_until": valid_until, "fencing_token": token}


def acquired(lock, at, valid_until, token, latency, attempts=1, contended=0):
    return ev("acquired", lease=lock.lease(at, valid_until, token),
              stats={"latency": latency, "attempts": attempts, "contended": contended})


def attempt_failed(attempt, reason, granted, conflicts, errors, retry_at):
    return ev("attempt_failed", attempt=attempt, reason=reason, granted=granted,
              conflicts=conflicts, errors=errors, retry_at=retry_at)


def acquire_failed(reason, latency, attempts, contended=0):
    return ev("acquire_failed", reason=reason,
              stats={"latency": latency, "attempts": attempts, "contended": contended})


def node_error(req, node, kind, message):
    return ev("node_error", req=req, node=node, kind=kind, message=message)


def timed_out(req, node, node_timeout=NT):
    return node_error(req, node, "timeout", f"no reply within {node_timeout} ms")


def INT(v):
    return {"type": "int", "value": v}


def ERR(kind, message=""):
    return {"type": "error", "kind": kind, "message": message}


def extend(now):
    return {"type": "extend", "now": now}


def vector(name, description, cfg, init, expect_init, steps=()):
    _vector("redlock", name, description, cfg, init, expect_init, steps)


def init(now=T0, resources=("orders:42",), value="v-1", timeout_=None):
    return {"now": now, "resources": list(resources), "value": value, "timeout": timeout_}


VALID = T0 + WINDOW  # 10898
WARN = T0 + TTL * 4 // 5  # 9000


# ---------------------------------------------------------------- basics, N = 1..5

def basics():
    lock = Lock(1)
    vector("n1_acquire_release",
           "N=1: the single node grants with counter 1; the lease is valid until start+ttl-drift "
           "(1000+10000-102); releasing deletes the key and reports how long it was held.",
           config(1), init(),
           {"outputs": lock.all("acquire"), "timeout": T0 + NT, "state": "acquiring"},
           [step(reply(1003, 1, INT(1)),
                 outputs=[acquired(lock, 1003, VALID, 1, 3)], timeout=WARN, state="held",
                 lease=lock.lease(1003, VALID, 1)),
            step(release(2000), outputs=lock.all("release"), timeout=2000 + NT, state="releasing"),
            step(reply(2002, 2, INT(1)),
                 outputs=[ev("released", outcome="released", held_for=997)],
                 timeout=None, state="released")])

    lock = Lock(2)
    vector("n2_quorum_is_both_nodes",
           "N=2: the quorum is 2 (N/2+1), so one grant is not enough; the second completes it.",
           config(2), init(),
           {"outputs": lock.all("acquire"), "timeout": T0 + NT, "state": "acquiring"},
           [step(reply(1004, 1, INT(4)), outputs=[], timeout=T0 + NT, state="acquiring"),
            step(reply(1006, 2, INT(4)), outputs=[acquired(lock, 1006, VALID, 4, 6)],
                 state="held")])

    lock = Lock(2)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    lock.next_attempt()
    a2 = lock.all("acquire")
    vector("n2_one_conflict_fails_then_retry_succeeds",
           "N=2 tolerates no failure: one conflict fails the attempt at once, releases on both "
           "nodes, and retries 100 ms later; the retry writes its own value (v-1.2), so the "
           "first attempt's release, even if it reached a node after the retry's acquire, "
           "could never delete the retry's key. The retry succeeds and the lease carries v-1.2.",
           config(2), init(),
           {"outputs": a1, "timeout": T0 + NT},
           [step(reply(1003, 2, INT(0)),
                 outputs=rel + [attempt_failed(1, "no_quorum", 0, 1, 0, 1103)],
                 timeout=1103, state="retrying"),
            step(reply(1005, 1, INT(3)), outputs=[], timeout=1103, state="retrying"),
            step(timeout(1103), outputs=a2, timeout=1103 + NT, state="acquiring"),
            step(reply(1105, 5, INT(4)), outputs=[], state="acquiring"),
            step(reply(1106, 6, INT(4)),
                 outputs=[acquired(lock, 1106, 1103 + WINDOW, 4, 106, attempts=2, contended=1)],
                 state="held", timeout=1103 + 8000)])

    lock = Lock(3)
    vector("n3_two_of_three",
           "N=3: two grants make the quorum; the third, slower reply is accepted and ignored.",
           config(3), init(),
           {"outputs": lock.all("acquire"), "timeout": T0 + NT},
           [step(reply(1002, 2, INT(9)), outputs=[], state="acquiring"),
            step(reply(1004, 1, INT(9)), outputs=[acquired(lock, 1004, VALID, 9, 4)],
                 state="held", timeout=WARN),
            step(reply(1020, 3, INT(9)), outputs=[], state="held", timeout=WARN)])

    lock = Lock(4)
    vector("n4_quorum_three_with_one_conflict",
           "N=4: the quorum is 3 and one failure is tolerated; a conflict on one node counts "
           "as contention but three grants still acquire.",
           config(4), init(),
           {"outputs": lock.all("acquire"), "timeout": T0 + NT},
           [step(reply(1002, 1, INT(2)), outputs=[]),
            step(reply(1003, 4, INT(0)), outputs=[], state="acquiring"),
            step(reply(1004, 2, INT(2)), outputs=[], state="acquiring"),
            step(reply(1007, 3, INT(2)),
                 outputs=[acquired(lock, 1007, VALID, 2, 7, contended=1)], state="held")])

    lock = Lock(4)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("n4_two_failures_fail",
           "N=4: two failures (a conflict and an error) leave at most two possible grants, "
           "below the quorum of 3: the attempt fails at once.",
           config(4), init(),
           {"outputs": a1},
           [step(reply(1002, 1, INT(0)), outputs=[]),
            step(reply(1003, 2, ERR("connection", "connection refused")),
                 outputs=[node_error(2, 1, "connection", "connection refused")] + rel
                 + [attempt_failed(1, "no_quorum", 0, 1, 1, 1103)],
                 state="retrying", timeout=1103)])

    lock = Lock(5)
    a1 = lock.all("acquire")
    vector("n5_acquire_and_release",
           "N=5: three grants acquire; the two late grants are ignored; the release goes to all "
           "five nodes and completes as soon as three confirm the deletion.",
           config(5), init(),
           {"outputs": a1, "timeout": T0 + NT, "state": "acquiring"},
           [step(reply(1003, 3, INT(11)), outputs=[]),
            step(reply(1004, 1, INT(11)), outputs=[]),
            step(reply(1005, 5, INT(11)), outputs=[acquired(lock, 1005, VALID, 11, 5)]),
            step(reply(1006, 2, INT(11)), outputs=[], state="held"),
            step(reply(1007, 4, INT(11)), outputs=[], state="held"),
            step(release(3000), outputs=lock.all("release"), state="releasing", timeout=3050),
            step(reply(3001, 6, INT(1)), outputs=[]),
            step(reply(3002, 8, INT(1)), outputs=[]),
            step(reply(3003, 10, INT(1)),
                 outputs=[ev("released", outcome="released", held_for=1995)],
                 state="released", timeout=None),
            step(reply(3004, 7, INT(1)), outputs=[], state="released")])


# ---------------------------------------------------------------- quorum edges

def quorum_edges():
    lock = Lock(5)
    vector("n5_minority_errors",
           "N=5: two nodes fail (a connection error and a server error) and are reported as "
           "node_error events; three grants still acquire.",
           config(5), init(),
           {"outputs": lock.all("acquire")},
           [step(reply(1002, 2, ERR("connection", "reset by peer")),
                 outputs=[node_error(2, 1, "connection", "reset by peer")]),
            step(reply(1003, 4, ERR("server", "BUSY Redis is busy running a script")),
                 outputs=[node_error(4, 3, "server", "BUSY Redis is busy running a script")]),
            step(reply(1004, 1, INT(6)), outputs=[]),
            step(reply(1005, 3, INT(6)), outputs=[]),
            step(reply(1006, 5, INT(6)), outputs=[acquired(lock, 1006, VALID, 6, 6)],
                 state="held")])

    lock = Lock(5)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("n5_majority_conflicts_fail_at_once",
           "N=5: the third conflict makes a quorum impossible; the attempt fails without waiting "
           "for the two silent nodes, and the release goes to all five nodes.",
           config(5), init(),
           {"outputs": a1},
           [step(reply(1002, 1, INT(0)), outputs=[]),
            step(reply(1003, 2, INT(0)), outputs=[]),
            step(reply(1004, 3, INT(0)),
                 outputs=rel + [attempt_failed(1, "no_quorum", 0, 3, 0, 1104)],
                 state="retrying", timeout=1104),
            step(reply(1010, 4, INT(1)), outputs=[], state="retrying")])

    lock = Lock(5)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("n5_grants_then_majority_failures",
           "N=5: two grants then three failures (two conflicts, one protocol error): the attempt "
           "fails; the granted nodes are released too.",
           config(5), init(),
           {"outputs": a1},
           [step(reply(1002, 1, INT(3)), outputs=[]),
            step(reply(1002, 2, INT(3)), outputs=[]),
            step(reply(1003, 3, INT(0)), outputs=[]),
            step(reply(1003, 4, INT(0)), outputs=[]),
            step(reply(1004, 5, {"type": "text", "value": "OK"}),
                 outputs=[node_error(5, 4, "protocol", "unexpected reply to acquire: a string")]
                 + rel + [attempt_failed(1, "no_quorum", 2, 2, 1, 1104)],
                 state="retrying")])


# ---------------------------------------------------------------- timeouts and late replies

def timeouts():
    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("node_timeouts_fail_the_attempt",
           "N=3: one grant, two silent nodes; at start+node_timeout both time out (in request "
           "order), the second timeout makes a quorum impossible, and the attempt fails.",
           config(3), init(),
           {"outputs": a1, "timeout": 1050},
           [step(reply(1004, 1, INT(2)), outputs=[], timeout=1050),
            step(timeout(1050),
                 outputs=[timed_out(2, 1), timed_out(3, 2)] + rel
                 + [attempt_failed(1, "no_quorum", 1, 0, 2, 1150)],
                 state="retrying", timeout=1150),
            step(reply(1060, 2, INT(2)), outputs=[], state="retrying"),
            step(reply(1061, 3, INT(2)), outputs=[], state="retrying")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("reply_at_the_deadline_is_late",
           "A reply that arrives exactly at start+node_timeout is late: deadlines due at an "
           "input's time fire before the input is applied, so nodes 1 and 2 time out first and "
           "the grant is ignored.",
           config(3), init(),
           {"outputs": a1},
           [step(reply(1001, 1, INT(2)), outputs=[]),
            step(reply(1050, 2, INT(2)),
                 outputs=[timed_out(2, 1), timed_out(3, 2)] + rel
                 + [attempt_failed(1, "no_quorum", 1, 0, 2, 1150)],
                 state="retrying")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("quorum_after_validity_is_not_counted",
           "The host stalls past the whole validity window and then delivers a quorum of grants: "
           "every request timed out long before, so the grants are ignored and no lease is ever "
           "handed out with validity <= 0.",
           config(3, retry={"max_attempts": 1}), init(),
           {"outputs": a1},
           [step(reply(11_000, 1, INT(5)),
                 outputs=[timed_out(1, 0), timed_out(2, 1)] + rel
                 + [attempt_failed(1, "no_quorum", 0, 0, 2, None),
                    acquire_failed("attempts_exhausted", 10_000, 1)],
                 state="failed", timeout=None, lease=None),
            step(reply(11_001, 2, INT(5)), outputs=[], state="failed")])

    lock = Lock(3)
    vector("spurious_early_timeout_is_a_no_op",
           "A timeout input before poll_timeout changes nothing.",
           config(3), init(),
           {"outputs": lock.all("acquire"), "timeout": 1050},
           [step(timeout(1020), outputs=[], timeout=1050, state="acquiring"),
            step(timeout(1020), outputs=[], timeout=1050, state="acquiring")])

    lock = Lock(5)
    a1 = lock.all("acquire")
    vector("minority_timeouts_after_quorum_do_not_matter",
           "N=5: three grants acquire before the deadline; the silent nodes are no longer timed "
           "(no node_error), and the next deadline is the expiry warning.",
           config(5), init(),
           {"outputs": a1},
           [step(reply(1010, 1, INT(1)), outputs=[]),
            step(reply(1020, 2, INT(1)), outputs=[]),
            step(reply(1049, 3, INT(1)), outputs=[acquired(lock, 1049, VALID, 1, 49)],
                 timeout=WARN),
            step(timeout(1050), outputs=[], state="held", timeout=WARN)])


# ---------------------------------------------------------------- usage errors

def usage_errors():
    lock = Lock(3)
    vector("duplicate_reply_is_rejected",
           "A second reply for an answered request is DUPLICATE_REPLY and changes nothing.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 1, INT(1)), outputs=[]),
            step(reply(1003, 1, INT(1)), error="DUPLICATE_REPLY", outputs=[], state="acquiring"),
            step(reply(1004, 2, INT(1)), outputs=[acquired(lock, 1004, VALID, 1, 4)]),
            step(reply(1005, 2, INT(1)), error="DUPLICATE_REPLY", outputs=[], state="held")])

    lock = Lock(3)
    vector("unknown_request_is_rejected",
           "Replies for request 0 or for an id never issued are UNKNOWN_REQUEST.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 0, INT(1)), error="UNKNOWN_REQUEST", outputs=[]),
            step(reply(1002, 4, INT(1)), error="UNKNOWN_REQUEST", outputs=[]),
            step(reply(1002, 99, INT(1)), error="UNKNOWN_REQUEST", outputs=[],
                 state="acquiring", timeout=1050)])

    lock = Lock(3)
    vector("reply_node_is_cross_checked",
           "A reply may name its node: a node outside the list is UNKNOWN_NODE, another node "
           "than the request's is NODE_MISMATCH; the right node is accepted.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 1, INT(1), node=3), error="UNKNOWN_NODE", outputs=[]),
            step(reply(1002, 1, INT(1), node=1), error="NODE_MISMATCH", outputs=[]),
            step(reply(1002, 1, INT(1), node=0), outputs=[]),
            step(reply(1003, 2, INT(1), node=1), outputs=[acquired(lock, 1003, VALID, 1, 3)])])

    lock = Lock(3)
    vector("time_going_backwards_is_rejected",
           "Every input whose time is earlier than one already seen is NON_MONOTONIC_TIME and "
           "leaves the machine unchanged; equal times are fine.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(reply(1005, 1, INT(1)), outputs=[]),
            step(reply(1004, 2, INT(1)), error="NON_MONOTONIC_TIME", outputs=[],
                 state="acquiring"),
            step(timeout(999), error="NON_MONOTONIC_TIME", outputs=[]),
            step(release(1000), error="NON_MONOTONIC_TIME", outputs=[]),
            step(reply(1005, 2, INT(1)), outputs=[acquired(lock, 1005, VALID, 1, 5)]),
            step(extend(1004), error="NON_MONOTONIC_TIME", outputs=[], state="held")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("time_above_two_to_the_53_is_rejected",
           "Times must stay below 2^53 ms so every language can carry them as numbers; the "
           "largest valid time is accepted (and passes the 1000 ms acquire deadline).",
           config(3), init(timeout_=1000), {"outputs": a1, "timeout": 1050},
           [step(timeout(2**53), error="TIME_OUT_OF_RANGE", outputs=[], timeout=1050),
            step(timeout(2**53 - 1),
                 outputs=rel + [attempt_failed(1, "deadline", 0, 0, 0, None),
                                acquire_failed("deadline", 2**53 - 1 - T0, 1)],
                 state="failed", timeout=None)])

    lock = Lock(3)
    vector("extend_and_release_in_wrong_states",
           "extend while acquiring is INVALID_STATE; after release completes, both extend and a "
           "second release are INVALID_STATE.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(extend(1001), error="INVALID_STATE", outputs=[], state="acquiring"),
            step(reply(1002, 1, INT(1)), outputs=[]),
            step(reply(1003, 2, INT(1)), outputs=[acquired(lock, 1003, VALID, 1, 3)]),
            step(release(1500), outputs=lock.all("release"), state="releasing"),
            step(release(1501), error="INVALID_STATE", outputs=[], state="releasing"),
            step(extend(1501), error="INVALID_STATE", outputs=[]),
            step(reply(1502, 4, INT(1)), outputs=[]),
            step(reply(1503, 5, INT(1)),
                 outputs=[ev("released", outcome="released", held_for=497)], state="released"),
            step(release(1504), error="INVALID_STATE", outputs=[], state="released"),
            step(extend(1504), error="INVALID_STATE", outputs=[]),
            step(reply(1505, 6, INT(1)), outputs=[], state="released"),
            step(reply(1506, 6, INT(1)), error="DUPLICATE_REPLY", outputs=[])])


# ---------------------------------------------------------------- retries and deadlines

def retries():
    # Jitter 50 with seed 7: delay_k = base_k + (r_k % 101) - 50.
    rng = splitmix64(7)
    d1 = 100 + next(rng) % 101 - 50
    d2 = 200 + next(rng) % 101 - 50
    lock = Lock(3)
    a1 = lock.all("acquire")
    r1 = lock.all("release")
    lock.next_attempt()
    a2 = lock.all("acquire")
    r2 = lock.all("release")
    lock.next_attempt()
    a3 = lock.all("acquire")
    r3 = lock.all("release")
    t1 = 1003 + d1
    t2 = t1 + 3 + d2
    vector("retry_delays_with_seeded_jitter",
           f"Jitter comes from SplitMix64 seeded with rng_seed 7: the first retry waits "
           f"100+({d1 - 100}) ms, the second 200+({d2 - 200}) ms; the third failure exhausts "
           f"max_attempts=3 (no draw, no retry_at).",
           config(3, retry={"jitter": 50}), init(),
           {"outputs": a1},
           [step(reply(1002, 1, INT(0)), outputs=[]),
            step(reply(1003, 2, INT(0)),
                 outputs=r1 + [attempt_failed(1, "no_quorum", 0, 2, 0, t1)],
                 timeout=t1, state="retrying"),
            step(timeout(t1), outputs=a2, state="acquiring"),
            step(reply(t1 + 2, 8, INT(0)), outputs=[]),
            step(reply(t1 + 3, 9, INT(0)),
                 outputs=r2 + [attempt_failed(2, "no_quorum", 0, 2, 0, t2)], timeout=t2),
            step(timeout(t2), outputs=a3),
            step(reply(t2 + 1, 13, INT(0)), outputs=[]),
            step(reply(t2 + 2, 14, INT(0)),
                 outputs=r3 + [attempt_failed(3, "no_quorum", 0, 2, 0, None),
                               acquire_failed("attempts_exhausted", t2 + 2 - T0, 3, 3)],
                 state="failed", timeout=None)])

    lock = Lock(1)
    a1 = lock.all("acquire")
    steps = []
    t = T0
    delays = [100, 200, 300, 300]
    for attempt, delay in enumerate(delays, start=1):
        steps.append(step(reply(t + 1, lock.next_req - 1, INT(0)),
                          outputs=lock.all("release")
                          + [attempt_failed(attempt, "no_quorum", 0, 1, 0, t + 1 + delay)],
                          timeout=t + 1 + delay))
        t = t + 1 + delay
        lock.next_attempt()
        steps.append(step(timeout(t), outputs=lock.all("acquire")))
    steps.append(step(reply(t + 1, lock.next_req - 1, INT(0)),
                      outputs=lock.all("release")
                      + [attempt_failed(5, "no_quorum", 0, 1, 0, None),
                         acquire_failed("attempts_exhausted", t + 1 - T0, 5, 5)],
                      state="failed"))
    vector("retry_exponential_backoff_is_capped",
           "Exponential backoff doubles from base_delay and stops growing at max_delay: "
           "100, 200, 300, 300 ms, then the fifth attempt is the last.",
           config(1, retry={"max_attempts": 5, "max_delay": 300}), init(),
           {"outputs": a1}, steps)

    lock = Lock(1)
    a1 = lock.all("acquire")
    r1 = lock.all("release")
    lock.next_attempt()
    a2 = lock.all("acquire")
    vector("retry_fixed_backoff",
           "Fixed backoff waits base_delay before every retry.",
           config(1, retry={"backoff": "fixed", "base_delay": 250, "max_delay": 1000}), init(),
           {"outputs": a1},
           [step(reply(1001, 1, INT(0)),
                 outputs=r1 + [attempt_failed(1, "no_quorum", 0, 1, 0, 1251)], timeout=1251),
            step(timeout(1251), outputs=a2),
            step(reply(1252, 3, INT(0)),
                 outputs=lock.all("release") + [attempt_failed(2, "no_quorum", 0, 1, 0, 1502)],
                 timeout=1502)])

    lock = Lock(3)
    a1 = lock.all("acquire")
    r1 = lock.all("release")
    vector("single_attempt_no_retry",
           "max_attempts=1 is a try-lock: one failure ends the acquisition, retry_at is null.",
           config(3, retry={"max_attempts": 1}), init(),
           {"outputs": a1},
           [step(reply(1002, 1, INT(0)), outputs=[]),
            step(reply(1003, 2, INT(0)),
                 outputs=r1 + [attempt_failed(1, "no_quorum", 0, 2, 0, None),
                               acquire_failed("attempts_exhausted", 3, 1, 1)],
                 state="failed", timeout=None)])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("deadline_cuts_the_attempt_in_flight",
           "With timeout=30 the deadline (1030) arrives before the node timeout (1050): the "
           "attempt is abandoned, released everywhere, and the acquisition fails with deadline.",
           config(3), init(timeout_=30),
           {"outputs": a1, "timeout": 1030},
           [step(reply(1010, 1, INT(1)), outputs=[], timeout=1030),
            step(timeout(1030),
                 outputs=rel + [attempt_failed(1, "deadline", 1, 0, 0, None),
                                acquire_failed("deadline", 30, 1)],
                 state="failed", timeout=None),
            step(reply(1031, 2, INT(1)), outputs=[], state="failed")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    r1 = lock.all("release")
    lock.next_attempt()
    a2 = lock.all("acquire")
    r2 = lock.all("release")
    vector("deadline_stops_retries_early",
           "timeout=150: the first retry (1105) starts before the deadline (1150); the second "
           "would start at 1308, past it, so the acquisition fails right away with deadline.",
           config(3), init(timeout_=150),
           {"outputs": a1, "timeout": 1050},
           [step(reply(1004, 1, INT(0)), outputs=[]),
            step(reply(1005, 2, INT(0)),
                 outputs=r1 + [attempt_failed(1, "no_quorum", 0, 2, 0, 1105)], timeout=1105),
            step(timeout(1105), outputs=a2, timeout=1150),
            step(reply(1107, 7, INT(0)), outputs=[]),
            step(reply(1108, 8, INT(0)),
                 outputs=r2 + [attempt_failed(2, "no_quorum", 0, 2, 0, None),
                               acquire_failed("deadline", 108, 2, 2)],
                 state="failed", timeout=None)])

    lock = Lock(1)
    a1 = lock.all("acquire")
    steps = []
    t = T0
    attempt = 1
    while True:
        delay = 50
        steps.append(None)
        retry_at = t + 1 + delay
        if retry_at >= T0 + 200:
            steps[-1] = step(reply(t + 1, lock.next_req - 1, INT(0)),
                             outputs=lock.all("release")
                             + [attempt_failed(attempt, "no_quorum", 0, 1, 0, None),
                                acquire_failed("deadline", t + 1 - T0, attempt, attempt)],
                             state="failed")
            break
        steps[-1] = step(reply(t + 1, lock.next_req - 1, INT(0)),
                         outputs=lock.all("release")
                         + [attempt_failed(attempt, "no_quorum", 0, 1, 0, retry_at)])
        t = retry_at
        attempt += 1
        lock.next_attempt()
        steps.append(step(timeout(t), outputs=lock.all("acquire")))
    vector("unlimited_attempts_end_at_the_deadline",
           "max_attempts=null retries until the caller's deadline (200 ms): fixed 50 ms delays, "
           "four attempts, then the next retry would start past the deadline.",
           config(1, retry={"max_attempts": None, "backoff": "fixed", "base_delay": 50}),
           init(timeout_=200), {"outputs": a1}, steps)


# ---------------------------------------------------------------- extend

def held(lock, at=1003, token=1, replies=None):
    """Steps that acquire on the first quorum of nodes at `at`."""
    quorum = lock.nodes // 2 + 1
    steps = []
    for i in range(quorum):
        last = i == quorum - 1
        steps.append(step(reply(at if last else at - 1, i + 1, INT(token)),
                          outputs=[acquired(lock, at, VALID, token, at - T0)] if last else []))
    return steps


def extend_vectors():
    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_success_measures_from_extend_start",
           "An extension confirmed by a quorum moves valid_until to extend start + ttl - drift "
           "(5000+9898) and restarts the 80 % warning clock.",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(5000), outputs=ext, state="extending", timeout=5050),
                  step(reply(5003, 4, INT(1)), outputs=[]),
                  step(reply(5004, 5, INT(1)), outputs=[ev("extended", valid_until=5000 + WINDOW)],
                       state="held", timeout=5000 + 8000,
                       lease=lock.lease(1003, 5000 + WINDOW, 1)),
                  step(reply(5005, 6, INT(1)), outputs=[], state="held")])

    lock = Lock(5)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_partial_still_reaches_quorum",
           "N=5: one node lost our key (0) and one errors, three confirm: extended.",
           config(5), init(), {"outputs": a1},
           pre + [step(extend(4000), outputs=ext),
                  step(reply(4001, 6, INT(0)), outputs=[]),
                  step(reply(4002, 7, ERR("timeout", "client timeout")),
                       outputs=[node_error(7, 1, "timeout", "client timeout")]),
                  step(reply(4003, 8, INT(1)), outputs=[]),
                  step(reply(4004, 9, INT(1)), outputs=[]),
                  step(reply(4005, 10, INT(1)),
                       outputs=[ev("extended", valid_until=4000 + WINDOW)], state="held")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_without_quorum_keeps_the_lease",
           "Two errors make an extension impossible; the lease stays held until its unchanged "
           "valid_until, where it is lost (expired).",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(5000), outputs=ext),
                  step(reply(5001, 4, ERR("connection", "")),
                       outputs=[node_error(4, 0, "connection", "")]),
                  step(reply(5002, 5, ERR("server", "OOM")),
                       outputs=[node_error(5, 1, "server", "OOM"),
                                ev("extend_failed", reason="no_quorum", valid_until=VALID,
                                   retry_at=None)],
                       state="held", timeout=WARN, lease=lock.lease(1003, VALID, 1)),
                  step(reply(5003, 6, INT(1)), outputs=[], state="held"),
                  step(timeout(WARN), outputs=[ev("expiry_warning", valid_until=VALID)],
                       timeout=VALID),
                  step(timeout(VALID), outputs=[ev("lost", reason="expired", held_for=VALID - 1003)],
                       state="lost", timeout=None)])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_rejected_by_quorum_loses_the_lease",
           "A quorum answers that our value no longer holds the key (-1: another owner, 0: "
           "gone): the lease is lost at once (rejected).",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(6000), outputs=ext),
                  step(reply(6001, 4, INT(-1)), outputs=[]),
                  step(reply(6002, 5, INT(0)),
                       outputs=[ev("lost", reason="rejected", held_for=4999)], state="lost",
                       timeout=None),
                  step(reply(6003, 6, INT(1)), outputs=[], state="lost"),
                  step(extend(6004), error="LEASE_LOST", outputs=[])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_confirmed_too_late_is_lost",
           "Extension replies that arrive at valid_until are too late: the validity deadline "
           "fires first, the lease is lost (expired), the replies are ignored.",
           config(3, node_timeout=100), init(), {"outputs": a1, "timeout": 1100},
           pre + [step(timeout(WARN), outputs=[ev("expiry_warning", valid_until=VALID)],
                       timeout=VALID),
                  step(extend(10_850), outputs=ext, state="extending", timeout=VALID),
                  step(reply(VALID, 4, INT(1)),
                       outputs=[ev("lost", reason="expired", held_for=VALID - 1003)],
                       state="lost", timeout=None),
                  step(reply(VALID + 1, 5, INT(1)), outputs=[], state="lost")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_node_timeouts",
           "Extension requests time out after node_timeout like any other: the second timeout "
           "makes a quorum impossible (the third is not reported), the lease stays held.",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(5000), outputs=ext, timeout=5050),
                  step(timeout(5050),
                       outputs=[timed_out(4, 0), timed_out(5, 1),
                                ev("extend_failed", reason="no_quorum", valid_until=VALID,
                                   retry_at=None)],
                       state="held", timeout=WARN)])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("extend_joins_the_one_in_flight",
           "A second extend while one is in flight sends nothing: its outcome answers both.",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(5000), outputs=ext),
                  step(extend(5001), outputs=[], state="extending"),
                  step(reply(5002, 4, INT(1)), outputs=[]),
                  step(reply(5003, 5, INT(1)), outputs=[ev("extended", valid_until=5000 + WINDOW)],
                       state="held")])


# ---------------------------------------------------------------- release

def release_vectors():
    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    rel = lock.all("release")
    vector("release_after_expiry_reports_already_expired",
           "Releasing a lease whose validity ended is not an error: all nodes answer that the "
           "key is gone, the outcome is already_expired. A loss noticed late (the host slept "
           "until 20000) still reports the hold as ending at valid_until.",
           config(3), init(), {"outputs": a1},
           pre + [step(timeout(20_000), outputs=[ev("lost", reason="expired", held_for=9895)],
                       state="lost", timeout=None),
                  step(release(20_100), outputs=rel, state="releasing", timeout=20_150),
                  step(reply(20_101, 4, INT(0)), outputs=[]),
                  step(reply(20_102, 5, INT(0)), outputs=[]),
                  step(reply(20_103, 6, INT(0)),
                       outputs=[ev("released", outcome="already_expired", held_for=9895)],
                       state="released")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    rel = lock.all("release")
    vector("release_finds_another_owner",
           "Our key is gone on every node and another owner holds it on one: held_by_other.",
           config(3), init(), {"outputs": a1},
           pre + [step(release(12_000), outputs=[ev("lost", reason="expired", held_for=9895)] + rel,
                       state="releasing"),
                  step(reply(12_001, 4, INT(-1)), outputs=[]),
                  step(reply(12_002, 5, INT(0)), outputs=[]),
                  step(reply(12_003, 6, INT(0)),
                       outputs=[ev("released", outcome="held_by_other", held_for=9895)])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    rel = lock.all("release")
    vector("release_quorum_unreachable",
           "Two of three nodes fail: no quorum can answer, so the release ends at once with "
           "quorum_unreachable (the keys expire with their TTL).",
           config(3), init(), {"outputs": a1},
           pre + [step(release(2000), outputs=rel),
                  step(reply(2001, 4, ERR("connection", "refused")),
                       outputs=[node_error(4, 0, "connection", "refused")]),
                  step(reply(2002, 5, ERR("connection", "refused")),
                       outputs=[node_error(5, 1, "connection", "refused"),
                                ev("released", outcome="quorum_unreachable", held_for=997)],
                       state="released", timeout=None),
                  step(reply(2003, 6, INT(1)), outputs=[], state="released")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    rel = lock.all("release")
    vector("release_node_timeouts",
           "One node confirms, two never answer: at the node timeout both are reported and the "
           "release is quorum_unreachable.",
           config(3), init(), {"outputs": a1},
           pre + [step(release(2000), outputs=rel, timeout=2050),
                  step(reply(2004, 4, INT(1)), outputs=[], timeout=2050),
                  step(timeout(2050),
                       outputs=[timed_out(5, 1), timed_out(6, 2),
                                ev("released", outcome="quorum_unreachable", held_for=997)],
                       state="released")])

    lock = Lock(3, resources=("b", "a"))
    a1 = lock.all("acquire")
    pre = held(lock)
    rel = lock.all("release")
    vector("release_multi_resource_partial",
           "Two resources: a node that deleted only one of our keys (reply 1) counts as expired "
           "there; two nodes that deleted both make the quorum: released.",
           config(3), init(resources=("b", "a")), {"outputs": a1},
           pre + [step(release(3000), outputs=rel),
                  step(reply(3001, 4, INT(2)), outputs=[]),
                  step(reply(3002, 5, INT(1)), outputs=[]),
                  step(reply(3003, 6, INT(2)),
                       outputs=[ev("released", outcome="released", held_for=1997)])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    rel = lock.all("release")
    vector("release_abandons_an_extension_in_flight",
           "Releasing while an extension is in flight abandons it (its replies are ignored) and "
           "releases on every node.",
           config(3), init(), {"outputs": a1},
           pre + [step(extend(4000), outputs=ext, state="extending"),
                  step(release(4001), outputs=rel, state="releasing"),
                  step(reply(4002, 4, INT(1)), outputs=[], state="releasing"),
                  step(reply(4003, 7, INT(1)), outputs=[]),
                  step(reply(4004, 8, INT(1)),
                       outputs=[ev("released", outcome="released", held_for=2998)])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("cancel_while_acquiring",
           "Releasing before the lock is acquired cancels: the keys are released on every node "
           "(replies not awaited) and the acquisition fails with cancelled.",
           config(3), init(), {"outputs": a1},
           [step(reply(1001, 1, INT(1)), outputs=[]),
            step(release(1002), outputs=rel + [acquire_failed("cancelled", 2, 1)],
                 state="failed", timeout=None),
            step(reply(1003, 2, INT(1)), outputs=[], state="failed"),
            step(reply(1004, 4, INT(1)), outputs=[], state="failed")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("cancel_while_waiting_to_retry",
           "Releasing between attempts ends the acquisition without new commands.",
           config(3), init(), {"outputs": a1},
           [step(reply(1001, 1, INT(0)), outputs=[]),
            step(reply(1002, 2, INT(0)),
                 outputs=rel + [attempt_failed(1, "no_quorum", 0, 2, 0, 1102)], state="retrying"),
            step(release(1050), outputs=[acquire_failed("cancelled", 50, 1, 1)], state="failed",
                 timeout=None)])


# ---------------------------------------------------------------- expiry, warning, auto-extension

def lifetime():
    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    vector("expiry_warning_then_expired",
           "Without extension the hold warns at 80 % of the TTL (start+8000) and is lost "
           "(expired) at valid_until.",
           config(3), init(), {"outputs": a1},
           pre + [step(timeout(WARN), outputs=[ev("expiry_warning", valid_until=VALID)],
                       timeout=VALID, state="held"),
                  step(timeout(VALID), outputs=[ev("lost", reason="expired", held_for=9895)],
                       state="lost", timeout=None),
                  step(extend(VALID + 1), error="LEASE_LOST", outputs=[])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    vector("paused_past_validity_is_lost_without_warning",
           "A host paused past both the warning and the validity learns only that the lease "
           "is lost: the loss deadline is checked first.",
           config(3), init(), {"outputs": a1},
           pre + [step(timeout(30_000), outputs=[ev("lost", reason="expired", held_for=9895)],
                       state="lost", timeout=None)])

    extend_at = VALID - WINDOW // 3  # 7599
    lost_at = VALID - NT  # 10848
    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    valid2 = extend_at + WINDOW
    vector("auto_extend_schedule",
           "auto_extend: the lease extends itself when a third of the window is left "
           "(valid_until - 9898/3 = 7599); the new validity counts from 7599 and the next "
           "extension is scheduled a third of a window before it ends.",
           config(3, auto_extend=True), init(), {"outputs": a1},
           pre[:-1] + [step(reply(1003, 2, INT(1)),
                            outputs=[acquired(lock, 1003, VALID, 1, 3)], timeout=extend_at)]
           + [step(timeout(extend_at), outputs=ext, state="extending", timeout=extend_at + NT),
              step(reply(extend_at + 3, 4, INT(1)), outputs=[]),
              step(reply(extend_at + 4, 5, INT(1)), outputs=[ev("extended", valid_until=valid2)],
                   state="held", timeout=valid2 - WINDOW // 3,
                   lease=lock.lease(1003, valid2, 1))])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext1 = lock.all("extend")
    ext2 = lock.all("extend")
    vector("auto_extend_retries_then_lost_before_validity_ends",
           "Auto-extension fails by timeouts, retries every base_delay (1600 here) while a retry "
           "can start before the loss deadline, and the lease is lost node_timeout before "
           "valid_until (10848 < 10898): the holder is told while the lease is still valid.",
           config(3, auto_extend=True, retry={"base_delay": 1600}), init(), {"outputs": a1},
           pre[:-1] + [step(reply(1003, 2, INT(1)),
                            outputs=[acquired(lock, 1003, VALID, 1, 3)], timeout=extend_at)]
           + [step(timeout(extend_at), outputs=ext1, timeout=extend_at + NT),
              step(timeout(extend_at + NT),
                   outputs=[timed_out(4, 0), timed_out(5, 1),
                            ev("extend_failed", reason="no_quorum", valid_until=VALID,
                               retry_at=extend_at + NT + 1600)],
                   state="held", timeout=WARN),
              step(timeout(WARN), outputs=[ev("expiry_warning", valid_until=VALID)],
                   timeout=extend_at + NT + 1600),
              step(timeout(extend_at + NT + 1600), outputs=ext2, state="extending"),
              step(reply(extend_at + NT + 1601, 7, ERR("connection", "")),
                   outputs=[node_error(7, 0, "connection", "")]),
              step(reply(extend_at + NT + 1602, 8, ERR("connection", "")),
                   outputs=[node_error(8, 1, "connection", ""),
                            ev("extend_failed", reason="no_quorum", valid_until=VALID,
                               retry_at=None)],
                   state="held", timeout=lost_at),
              step(timeout(lost_at),
                   outputs=[ev("lost", reason="extension_failed", held_for=lost_at - 1003)],
                   state="lost", timeout=None),
              step(release(lost_at + 1), outputs=lock.all("release"), state="releasing")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    vector("auto_extend_host_stalled_is_lost_early",
           "If the host delivers no timer until the loss deadline, no extension ever ran: the "
           "lease is lost at valid_until - node_timeout, not after.",
           config(3, auto_extend=True), init(), {"outputs": a1},
           pre + [step(timeout(lost_at),
                       outputs=[ev("lost", reason="extension_failed", held_for=lost_at - 1003)],
                       state="lost")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("auto_extend_rejected",
           "Auto-extension finds another owner on a quorum: lost (rejected) at once.",
           config(3, auto_extend=True), init(), {"outputs": a1},
           pre + [step(timeout(extend_at), outputs=ext),
                  step(reply(extend_at + 1, 5, INT(-1)), outputs=[]),
                  step(reply(extend_at + 2, 6, INT(-1)),
                       outputs=[ev("lost", reason="rejected", held_for=extend_at + 2 - 1003)],
                       state="lost")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    pre = held(lock)
    ext = lock.all("extend")
    vector("manual_extend_with_auto_extension_on",
           "A manual extend before the auto-extension time starts a round at once and "
           "reschedules auto-extension from the new validity.",
           config(3, auto_extend=True), init(), {"outputs": a1},
           pre + [step(extend(3000), outputs=ext, timeout=3050),
                  step(reply(3001, 4, INT(1)), outputs=[]),
                  step(reply(3002, 5, INT(1)),
                       outputs=[ev("extended", valid_until=3000 + WINDOW)],
                       timeout=3000 + WINDOW - WINDOW // 3)])


# ---------------------------------------------------------------- fencing

def fencing():
    lock = Lock(3)
    vector("fencing_quorum_agrees_in_one_round",
           "Two granting nodes both return counter 5: a quorum agrees, token 5, no write-back.",
           config(3), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 1, INT(5)), outputs=[]),
            step(reply(1003, 3, INT(5)), outputs=[acquired(lock, 1003, VALID, 5, 3)])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    wb = [lock.fence(0, 7), lock.fence(2, 7)]
    vector("fencing_write_back_round",
           "Grants return counters 5 and 7: the token is the maximum, 7, but only one node holds "
           "it, so 7 is written back to every node that may hold our key and lacks it (node 0, "
           "and node 2 which has not answered); node 0's confirmation makes the quorum.",
           config(3), init(), {"outputs": a1},
           [step(reply(1002, 1, INT(5)), outputs=[]),
            step(reply(1003, 2, INT(7)), outputs=wb, state="acquiring", timeout=1053),
            step(reply(1004, 3, INT(8)), outputs=[], state="acquiring"),
            step(reply(1005, 4, INT(7)), outputs=[acquired(lock, 1005, VALID, 7, 5)],
                 state="held"),
            step(reply(1006, 5, INT(8)), outputs=[], state="held")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    wb = [lock.fence(0, 7), lock.fence(2, 7)]
    rel = lock.all("release")
    vector("fencing_write_back_refused",
           "The write-back finds a higher counter on node 0 (9: nothing written) and our key "
           "gone on node 2 (0): only one confirmation, the attempt fails (fence_unconfirmed) "
           "and is released.",
           config(3), init(), {"outputs": a1},
           [step(reply(1002, 1, INT(5)), outputs=[]),
            step(reply(1003, 2, INT(7)), outputs=wb),
            step(reply(1004, 4, INT(9)), outputs=[], state="acquiring"),
            step(reply(1005, 5, INT(0)),
                 outputs=rel + [attempt_failed(1, "fence_unconfirmed", 2, 0, 0, 1105)],
                 state="retrying")])

    lock = Lock(3)
    a1 = lock.all("acquire")
    wb = [lock.fence(0, 7), lock.fence(2, 7)]
    rel = lock.all("release")
    vector("fencing_write_back_times_out",
           "Write-back requests that never answer time out node_timeout after they were sent "
           "(1053): the token cannot be confirmed by a quorum.",
           config(3), init(), {"outputs": a1},
           [step(reply(1002, 1, INT(5)), outputs=[]),
            step(reply(1003, 2, INT(7)), outputs=wb, timeout=1053),
            step(timeout(1053),
                 outputs=[timed_out(4, 0), timed_out(5, 2)] + rel
                 + [attempt_failed(1, "fence_unconfirmed", 2, 0, 0, 1153)],
                 state="retrying")])

    lock = Lock(5)
    a1 = lock.all("acquire")
    wb = [lock.fence(0, 4), lock.fence(1, 4), lock.fence(3, 4), lock.fence(4, 4)]
    vector("fencing_n5_write_back_to_the_minority",
           "N=5: grants 3, 3, 4: token 4 with one node agreeing; the write-back goes to the two "
           "lower nodes and the two silent ones; two confirmations complete the quorum of 3.",
           config(5), init(), {"outputs": a1},
           [step(reply(1002, 1, INT(3)), outputs=[]),
            step(reply(1002, 2, INT(3)), outputs=[]),
            step(reply(1003, 3, INT(4)), outputs=wb),
            step(reply(1004, 6, INT(4)), outputs=[]),
            step(reply(1005, 7, ERR("server", "READONLY")),
                 outputs=[node_error(7, 1, "server", "READONLY")]),
            step(reply(1006, 9, INT(4)), outputs=[acquired(lock, 1006, VALID, 4, 6)])])

    lock = Lock(3)
    a1 = lock.all("acquire")
    wb = [lock.fence(1, 12)]
    vector("fencing_conflict_nodes_get_no_write_back",
           "Node 2 answered conflict (another owner's key): it cannot hold ours, so the "
           "write-back goes only to node 1.",
           config(3), init(), {"outputs": a1},
           [step(reply(1002, 3, INT(0)), outputs=[]),
            step(reply(1003, 1, INT(12)), outputs=[]),
            step(reply(1004, 2, INT(11)), outputs=wb),
            step(reply(1005, 4, INT(12)), outputs=[acquired(lock, 1005, VALID, 12, 5,
                                                           contended=1)])])

    lock = Lock(3, fencing=False)
    vector("fencing_disabled",
           "fencing=false: no counter keys, the acquire script returns 1 for a grant, the lease "
           "has no token.",
           config(3, fencing=False), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 1, INT(1)), outputs=[]),
            step(reply(1003, 2, INT(1)), outputs=[acquired(lock, 1003, VALID, None, 3)],
                 lease=lock.lease(1003, VALID, None))])

    lock = Lock(3, fencing=False)
    vector("fencing_disabled_rejects_counters",
           "With fencing off, an acquire reply other than 0 or 1 is a protocol error.",
           config(3, fencing=False), init(), {"outputs": lock.all("acquire")},
           [step(reply(1002, 1, INT(5)),
                 outputs=[node_error(1, 0, "protocol", "unexpected reply to acquire: integer 5")])])

    lock = Lock(5)
    a1 = lock.all("acquire")
    rel = lock.all("release")
    vector("unexpected_reply_shapes_are_protocol_errors",
           "nil, negative integers, and arrays are not acquire replies: each is a node_error "
           "(protocol) and counts as a failure; the third failure of five fails the attempt.",
           config(5), init(), {"outputs": a1},
           [step(reply(1002, 1, {"type": "nil"}),
                 outputs=[node_error(1, 0, "protocol", "unexpected reply to acquire: nil")]),
            step(reply(1003, 2, INT(-3)),
                 outputs=[node_error(2, 1, "protocol", "unexpected reply to acquire: integer -3")]),
            step(reply(1004, 3, {"type": "array", "items": [INT(1)]}),
                 outputs=[node_error(3, 2, "protocol", "unexpected reply to acquire: an array of 1")]
                 + rel + [attempt_failed(1, "no_quorum", 0, 0, 3, 1104)])])


# ---------------------------------------------------------------- keys and config errors

def keys_and_config():
    lock = Lock(3, resources=("orders:9", "orders:10", "inventory:sku-1"))
    vector("multi_resource_keys_are_sorted",
           "Resources are locked in sorted order (byte order), all in one script per node; the "
           "fence keys follow the lock keys and the count is the third argument.",
           config(3), init(resources=("orders:9", "orders:10", "inventory:sku-1")),
           {"outputs": lock.all("acquire")},
           [step(reply(1001, 1, INT(2)), outputs=[]),
            step(reply(1002, 2, INT(2)), outputs=[acquired(lock, 1002, VALID, 2, 2)])])

    lock = Lock(1, ns="billing", value="7b0c5d1e-8f4a-4c2b-9e3d-1a2b3c4d5e6f")
    vector("namespace_and_value_in_keys",
           "The namespace prefixes every key: <ns>:lock:{resource} and <ns>:fence:{resource}.",
           config(1, namespace="billing"),
           init(value="7b0c5d1e-8f4a-4c2b-9e3d-1a2b3c4d5e6f"),
           {"outputs": lock.all("acquire")})

    lock = Lock(3, ttl=30)
    # ttl 30: drift = ceil(0.3) + 2 = 3, window 27, node timeout at most 9.
    vector("short_ttl_smallest_windows",
           "ttl=30 ms: drift ceil(30*0.01)+2 = 3, validity 27 ms; node_timeout 9 (a third of "
           "the window) is accepted.",
           config(3, ttl=30, node_timeout=9), init(), {"outputs": lock.all("acquire"),
                                                       "timeout": 1009},
           [step(reply(1001, 1, INT(1)), outputs=[]),
            step(reply(1002, 2, INT(1)), outputs=[acquired(lock, 1002, 1027, 1, 2)],
                 timeout=1024)])

    errors = [
        ("config_ttl_too_short", "ttl=5: drift 3 leaves 2 ms of validity, below the 3 ms "
         "minimum: TTL_TOO_SHORT (no underflow).", config(3, ttl=5, node_timeout=None), init(),
         "TTL_TOO_SHORT"),
        ("config_ttl_equal_to_drift", "ttl=3: drift 3 leaves nothing: TTL_TOO_SHORT.",
         config(3, ttl=3, node_timeout=None), init(), "TTL_TOO_SHORT"),
        ("config_ttl_zero", "ttl=0 is INVALID_TTL.", config(3, ttl=0), init(), "INVALID_TTL"),
        ("config_ttl_absurd", "ttl above 2^31-1 ms is INVALID_TTL.",
         config(3, ttl=2_147_483_648), init(), "INVALID_TTL"),
        ("config_no_nodes", "nodes=0 is NO_NODES.", config(0), init(), "NO_NODES"),
        ("config_too_many_nodes", "nodes=65 is TOO_MANY_NODES.", config(65), init(),
         "TOO_MANY_NODES"),
        ("config_drift_too_large", "drift_ppm above 500000 is INVALID_DRIFT.",
         config(3, drift_ppm=500_001), init(), "INVALID_DRIFT"),
        ("config_node_timeout_too_long", "node_timeout above a third of the validity window "
         "(9898/3 = 3299) is INVALID_NODE_TIMEOUT.", config(3, node_timeout=3300), init(),
         "INVALID_NODE_TIMEOUT"),
        ("config_node_timeout_zero", "node_timeout=0 is INVALID_NODE_TIMEOUT.",
         config(3, node_timeout=0), init(), "INVALID_NODE_TIMEOUT"),
        ("config_zero_attempts", "max_attempts=0 is INVALID_RETRY (null means unlimited).",
         config(3, retry={"max_attempts": 0}), init(), "INVALID_RETRY"),
        ("config_base_delay_above_max", "base_delay above max_delay is INVALID_RETRY.",
         config(3, retry={"base_delay": 2000, "max_delay": 1000}), init(), "INVALID_RETRY"),
        ("config_acquire_timeout_zero", "An acquire timeout of 0 is INVALID_TIMEOUT.",
         config(3), init(timeout_=0), "INVALID_TIMEOUT"),
        ("config_no_resources", "An empty resource list is NO_RESOURCES.", config(3),
         init(resources=()), "NO_RESOURCES"),
        ("config_empty_resource", "An empty resource name is EMPTY_RESOURCE.", config(3),
         init(resources=("a", "")), "EMPTY_RESOURCE"),
        ("config_resource_too_long", "A 513-byte resource name is RESOURCE_TOO_LONG (limit 512).",
         config(3), init(resources=("r" * 513,)), "RESOURCE_TOO_LONG"),
        ("config_duplicate_resource", "The same resource twice is DUPLICATE_RESOURCE.",
         config(3), init(resources=("a", "b", "a")), "DUPLICATE_RESOURCE"),
        ("config_too_many_resources", "65 resources in one lock is TOO_MANY_RESOURCES.",
         config(3), init(resources=tuple(f"r{i}" for i in range(65))), "TOO_MANY_RESOURCES"),
        ("config_empty_value", "An empty lock value is INVALID_VALUE.", config(3),
         init(value=""), "INVALID_VALUE"),
        ("config_value_with_control_characters", "A lock value with a newline is "
         "INVALID_VALUE.", config(3), init(value="a\nb"), "INVALID_VALUE"),
        ("config_namespace_with_braces", "A namespace containing '{' is INVALID_NAMESPACE "
         "(it would move the cluster hash tag).", config(3, namespace="a{b"), init(),
         "INVALID_NAMESPACE"),
        ("config_start_time_out_of_range", "A start time at 2^53 is TIME_OUT_OF_RANGE.",
         config(3), init(now=9_007_199_254_740_992), "TIME_OUT_OF_RANGE"),
    ]
    for name, description, cfg, ini, code in errors:
        if cfg.get("node_timeout", 0) is None:
            del cfg["node_timeout"]
        vector(name, description, cfg, ini, {"error": code})


def main():
    basics()
    quorum_edges()
    timeouts()
    usage_errors()
    retries()
    extend_vectors()
    release_vectors()
    lifetime()
    fencing()
    keys_and_config()
    write_vectors(OUT)


if __name__ == "__main__":
    main()
