#!/usr/bin/env python3
"""Writes the PostgreSQL advisory-lock conformance vectors
(conformance/vectors/advisory/*.json).

Each story states its expectations by hand, from DESIGN.md 4.4 and the transitions
in core/src/advisory/mod.rs: every time below is computed here from the spec's
rules, never read back from the core:
- a statement times out request_timeout after it was sent;
- after a busy answer to attempt k, the next attempt waits the retry delay for k
  (base_delay * 2^(k-1) with exponential backoff); after failed statements the
  delay counts consecutive failures the same way;
- a held lock is checked every check_interval after the last check (or the fence),
  a failed check is retried base_delay later;
- an unlock is tried CLEANUP_ATTEMPTS (3) times.

The SQL below is written out by hand: it is what every host must send.

Run: python3 conformance/fillers/advisory.py   (rewrites the folder)
"""

import os

from common import ev, release, reply, step, timeout, write_vectors
from common import vector as _vector

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "advisory")

T0 = 1000
RT = 500  # request_timeout
CHECK = 1000  # check_interval
BASE = 100
NAME = "orders"
PID = 4242

HELD = ("EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = "
        "pg_backend_pid() AND objsubid = 1 AND classid = ((k >> 32) & 4294967295)::oid AND "
        "objid = (k & 4294967295)::oid)")
KEY = " FROM (SELECT hashtextextended($1::text, 0) AS k) AS fencelock_key"
SQL = {
    "try_lock": f"SELECT CASE WHEN {HELD} THEN 'held' WHEN pg_try_advisory_lock(k) THEN "
                f"'locked' ELSE 'busy' END, pg_backend_pid(){KEY}",
    "fence": "INSERT INTO fencelock_fence (name, token) VALUES ($1::text, 1) ON CONFLICT (name) "
             "DO UPDATE SET token = fencelock_fence.token + 1 RETURNING token, pg_backend_pid()",
    "setup": "CREATE TABLE IF NOT EXISTS fencelock_fence (name text PRIMARY KEY, token bigint "
             "NOT NULL)",
    "check": f"SELECT {HELD}, pg_backend_pid(){KEY}",
    "unlock": "SELECT CASE WHEN $2::integer NOT IN (0, pg_backend_pid()) THEN NULL WHEN "
              f"pg_advisory_unlock(k) THEN 'unlocked' ELSE 'not_held' END, pg_backend_pid(){KEY}",
}


def config(**overrides):
    cfg = {
        "request_timeout": RT,
        "check_interval": CHECK,
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


def init(now=T0, name=NAME, timeout=None, try_lock=False):
    return {"now": now, "name": name, "timeout": timeout, "try_lock": try_lock}


class Client:
    """The exact statements one machine sends, allocating request ids in order."""

    def __init__(self, name=NAME):
        self.name = name
        self.next_req = 1

    def _q(self, statement, params):
        req = self.next_req
        self.next_req += 1
        return {"command": {"type": "query", "req": req, "statement": statement,
                            "sql": SQL[statement], "params": params}}

    def try_lock(self):
        return self._q("try_lock", [self.name])

    def fence(self):
        return self._q("fence", [self.name])

    def setup(self):
        return self._q("setup", [])

    def check(self):
        return self._q("check", [self.name])

    def unlock(self, pid=PID):
        return self._q("unlock", [self.name, pid])


def stats(latency, attempts=1, contended=0):
    return {"latency": latency, "attempts": attempts, "contended": contended}


def lock(token, acquired_at, pid=PID, name=NAME):
    return {"name": name, "token": token, "pid": pid, "acquired_at": acquired_at}


def acquired(token, at, latency, attempts=1, contended=0):
    return ev("acquired", lock=lock(token, at), stats=stats(latency, attempts, contended))


def acquire_failed(reason, latency, attempts=1, contended=0):
    return ev("acquire_failed", reason=reason, stats=stats(latency, attempts, contended))


def lost(reason, held_for):
    return ev("lost", reason=reason, held_for=held_for)


def released(outcome, held_for):
    return ev("released", outcome=outcome, held_for=held_for)


def busy(attempt, retry_at):
    return ev("busy", attempt=attempt, retry_at=retry_at)


def request_error(req, kind, code="", message=""):
    return ev("request_error", req=req, kind=kind, code=code, message=message)


def timed_out(req, rt=RT):
    return request_error(req, "timeout", "", f"no result within {rt} ms")


def session_lost(now):
    return {"type": "session_lost", "now": now}


def ROW(*values):
    return {"type": "row", "values": list(values)}


DONE = {"type": "done"}


def ERR(kind, code="", message=""):
    return {"type": "error", "kind": kind, "code": code, "message": message}


TERMINATED = ERR("connection", "57P01", "terminating connection due to administrator command")


def vector(name, description, cfg, init, expect_init, steps=()):
    _vector("advisory_lock", name, description, cfg, init, expect_init, steps)


def held(c, token=7):
    """try_lock at 1000 (locked at 1002), fence at 1002 (token at 1004): held."""
    init_expect = {"outputs": [c.try_lock()], "timeout": T0 + RT, "state": "acquiring",
                   "lock": None}
    steps = [
        step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()], timeout=1502,
             state="acquiring"),
        step(reply(1004, 2, ROW(token, PID)), outputs=[acquired(token, 1004, 4)],
             timeout=1004 + CHECK, state="held", lock=lock(token, 1004)),
    ]
    return init_expect, steps


# ------------------------------------------------------------------ stories

def basics():
    c = Client()
    init_expect, steps = held(c)
    vector(
        "uncontended_lock_fence_check_release",
        "Uncontended: pg_try_advisory_lock(hashtextextended(name, 0)) answers locked (with the "
        "backend pid), the fence bump returns the name's counter (7): held with token 7. "
        "check_interval later the check confirms the session still holds it. Release runs "
        "pg_advisory_unlock guarded by the pid: released.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()], timeout=2504, state="held"),
            step(reply(2006, 3, ROW(True, PID)), outputs=[ev("checked")], timeout=3006,
                 state="held"),
            step(release(2500), outputs=[c.unlock()], timeout=3000, state="releasing"),
            step(reply(2502, 4, ROW("unlocked", PID)), outputs=[released("released", 1496)],
                 timeout=None, state="released", lock=lock(7, 1004))])

    c = Client()
    vector(
        "busy_then_free_retries_with_backoff",
        "Another session holds the lock: busy{attempt 1, retry_at 1102} (base delay 100), "
        "state waiting. The second attempt takes it; node-postgres returns the bigint token as "
        "a decimal string (\"3\"), which is accepted. Stats: 2 attempts, 1 contended.",
        config(), init(),
        {"outputs": [c.try_lock()], "timeout": 1500},
        [step(reply(1002, 1, ROW("busy", PID)), outputs=[busy(1, 1102)], timeout=1102,
              state="waiting"),
         step(timeout(1102), outputs=[c.try_lock()], timeout=1602, state="waiting"),
         step(reply(1104, 2, ROW("locked", PID)), outputs=[c.fence()], timeout=1604),
         step(reply(1106, 3, ROW("3", PID)),
              outputs=[acquired(3, 1106, 106, attempts=2, contended=1)], state="held",
              lock=lock(3, 1106))])

    c = Client()
    vector(
        "try_lock_busy_fails_locked",
        "Try-lock meets another holder: acquire_failed{locked} at once, no unlock (nothing "
        "was taken).",
        config(), init(try_lock=True),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("busy", PID)),
              outputs=[acquire_failed("locked", 2, contended=1)], timeout=None,
              state="failed", lock=None)])

    c = Client()
    vector(
        "busy_until_attempts_exhausted",
        "Busy three times: retries after 100 then 200 ms; the third busy answer reaches "
        "max_attempts (3): acquire_failed{attempts_exhausted}, no unlock.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("busy", PID)), outputs=[busy(1, 1102)]),
         step(timeout(1102), outputs=[c.try_lock()]),
         step(reply(1104, 2, ROW("busy", PID)), outputs=[busy(2, 1304)], timeout=1304),
         step(timeout(1304), outputs=[c.try_lock()]),
         step(reply(1306, 3, ROW("busy", PID)),
              outputs=[acquire_failed("attempts_exhausted", 306, attempts=3, contended=3)],
              timeout=None, state="failed")])

    c = Client()
    vector(
        "busy_until_the_deadline",
        "Acquire timeout 250 ms (deadline 1250): the second busy answer would retry at 1304, "
        "past the deadline, so the acquisition ends with deadline at once.",
        config(), init(timeout=250),
        {"outputs": [c.try_lock()], "timeout": 1250},
        [step(reply(1002, 1, ROW("busy", PID)), outputs=[busy(1, 1102)], timeout=1102),
         step(timeout(1102), outputs=[c.try_lock()], timeout=1250),
         step(reply(1104, 2, ROW("busy", PID)),
              outputs=[acquire_failed("deadline", 104, attempts=2, contended=2)],
              timeout=None, state="failed")])

    c = Client()
    vector(
        "fence_table_created_on_first_use",
        "The fence bump fails with 42P01 (no fencelock_fence yet): CREATE TABLE IF NOT EXISTS "
        "runs (no row: done), then the bump again: the first token of a name is 1.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()]),
         step(reply(1004, 2, ERR("server", "42P01",
                                 'relation "fencelock_fence" does not exist')),
              outputs=[c.setup()], timeout=1504, state="acquiring"),
         step(reply(1010, 3, DONE), outputs=[c.fence()], timeout=1510),
         step(reply(1012, 4, ROW(1, PID)), outputs=[acquired(1, 1012, 12)], state="held")])

    c = Client()
    vector(
        "setup_race_still_fences",
        "Two sessions create the table at once; ours fails with 23505 (pg_type unique "
        "violation): reported, and the bump is retried after the retry delay (the table now "
        "exists).",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()]),
         step(reply(1004, 2, ERR("server", "42P01", "no table")), outputs=[c.setup()]),
         step(reply(1006, 3, ERR("server", "23505", "duplicate key value")),
              outputs=[request_error(3, "server", "23505", "duplicate key value")],
              timeout=1106, state="acquiring"),
         step(timeout(1106), outputs=[c.fence()], timeout=1606),
         step(reply(1108, 4, ROW(2, PID)), outputs=[acquired(2, 1108, 108)], state="held")])

    c = Client()
    vector(
        "fence_timeout_bumps_again",
        "The fence bump gets no result in time (it may have run): it is sent again; the "
        "second bump returns a higher token (9), the late result of the first (8) is "
        "accepted and ignored. Skipped tokens are harmless: only their order matters.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()], timeout=1502),
         step(timeout(1502), outputs=[timed_out(2)], timeout=1602),
         step(timeout(1602), outputs=[c.fence()], timeout=2102),
         step(reply(1603, 2, ROW(8, PID)), outputs=[], timeout=2102),
         step(reply(1604, 3, ROW(9, PID)), outputs=[acquired(9, 1604, 604)], state="held")])


def pinning():
    c = Client()
    vector(
        "pid_changed_between_lock_and_fence",
        "The lock was taken on backend 4242 but the fence ran on 5555: the session is not "
        "pinned (a transaction-mode pooler). acquire_failed{session_not_pinned}, and no "
        "unlock (it could only land on yet another backend, maybe releasing someone else's "
        "lock).",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()]),
         step(reply(1004, 2, ROW(7, 5555)),
              outputs=[acquire_failed("session_not_pinned", 4)], timeout=None,
              state="failed", lock=None)])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "check_on_another_backend_is_not_pinned",
        "A check runs on backend 5555 instead of 4242: lost{session_not_pinned}; release "
        "sends nothing more and reports session_not_pinned.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()]),
            step(reply(2006, 3, ROW(False, 5555)), outputs=[lost("session_not_pinned", 1002)],
                 timeout=None, state="lost"),
            step(release(2100), outputs=[released("session_not_pinned", 1002)],
                 state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "unlock_on_another_backend_touches_nothing",
        "The unlock lands on another backend: its pid guard returns NULL without unlocking "
        "(that backend may hold another client's lock of the same name): "
        "released{session_not_pinned}.",
        config(), init(), init_expect,
        steps + [
            step(release(1500), outputs=[c.unlock()], state="releasing"),
            step(reply(1502, 3, ROW(None, 5555)),
                 outputs=[released("session_not_pinned", 496)], state="released")])

    c = Client()
    vector(
        "already_held_by_this_session_is_refused",
        "The connection already holds this lock for another user (two locks sharing one "
        "session; session locks would stack): try_lock answers held and takes nothing. "
        "acquire_failed{already_held}: never a second holder, no unlock.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("held", PID)), outputs=[acquire_failed("already_held", 2)],
              timeout=None, state="failed")])

    c = Client()
    vector(
        "unanswered_try_lock_then_held_is_ours",
        "The first try_lock gets no result in time (it may still run and take the lock); the "
        "retry answers held: that is our own first attempt's lock, so we go on to the fence "
        "(no stacking, one unlock will release it). The first attempt's late result is "
        "ignored.",
        config(), init(),
        {"outputs": [c.try_lock()], "timeout": 1500},
        [step(timeout(1500), outputs=[timed_out(1)], timeout=1600),
         step(timeout(1600), outputs=[c.try_lock()], timeout=2100),
         step(reply(1601, 1, ROW("locked", PID)), outputs=[], timeout=2100),
         step(reply(1602, 2, ROW("held", PID)), outputs=[c.fence()], timeout=2102),
         step(reply(1604, 3, ROW(5, PID)), outputs=[acquired(5, 1604, 604, attempts=2)],
              state="held")])


def loss():
    c = Client()
    init_expect, steps = held(c)
    vector(
        "terminated_backend_is_session_lost",
        "pg_terminate_backend ends the holder's session: the next check fails with a "
        "connection error (57P01 admin_shutdown): lost{session_lost}. The server released the "
        "lock with the session, so release sends nothing: released{session_lost}.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()]),
            step(reply(2006, 3, TERMINATED),
                 outputs=[request_error(3, "connection", "57P01",
                                        "terminating connection due to administrator command"),
                          lost("session_lost", 1002)],
                 timeout=None, state="lost"),
            step(release(2100), outputs=[released("session_lost", 1002)], state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "check_says_not_held_is_lost",
        "The check finds the session no longer holds the lock (pg_advisory_unlock_all, a "
        "session reset): lost{not_held}; release reports not_held without a statement.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()]),
            step(reply(2006, 3, ROW(False, PID)), outputs=[lost("not_held", 1002)],
                 timeout=None, state="lost"),
            step(release(2100), outputs=[released("not_held", 1002)], state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "session_lost_input_while_held",
        "The host's driver reports the connection closed between statements: "
        "lost{session_lost}; the scheduled check is dropped.",
        config(), init(), init_expect,
        steps + [
            step(session_lost(1500), outputs=[lost("session_lost", 496)], timeout=None,
                 state="lost"),
            step(session_lost(1600), outputs=[], state="lost"),
            step(release(1700), outputs=[released("session_lost", 496)], state="released")])

    c = Client()
    vector(
        "session_lost_while_acquiring",
        "The connection breaks while the first try_lock is in flight: "
        "acquire_failed{session_lost} (whatever it took went with the session); its late "
        "result is ignored.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(session_lost(1001), outputs=[acquire_failed("session_lost", 1)], timeout=None,
              state="failed"),
         step(reply(1002, 1, ROW("locked", PID)), outputs=[], state="failed")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "unanswered_check_is_uncertain_until_checked",
        "A check gets no result in time: reported, the lock is uncertain (do not rely on "
        "it), and the check is retried base_delay later; its answer makes it held again.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()], timeout=2504),
            step(timeout(2504), outputs=[timed_out(3), ev("uncertain")], timeout=2604,
                 state="uncertain"),
            step(timeout(2604), outputs=[c.check()], timeout=3104, state="uncertain"),
            step(reply(2606, 4, ROW(True, PID)), outputs=[ev("checked")], timeout=3606,
                 state="held"),
            step(reply(2607, 3, ROW(True, PID)), outputs=[], state="held")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "release_while_uncertain_unlocks",
        "A check fails with a server error (the session lives): uncertain. Releasing then "
        "drops the scheduled check and unlocks.",
        config(), init(), init_expect,
        steps + [
            step(timeout(2004), outputs=[c.check()]),
            step(reply(2006, 3, ERR("server", "57014", "canceling statement")),
                 outputs=[request_error(3, "server", "57014", "canceling statement"),
                          ev("uncertain")],
                 timeout=2106, state="uncertain"),
            step(release(2050), outputs=[c.unlock()], timeout=2550, state="releasing"),
            step(reply(2052, 4, ROW("unlocked", PID)), outputs=[released("released", 1046)],
                 state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "paused_holder_learns_at_the_next_check",
        "A holder paused for a minute while its backend was terminated: a lock without TTL "
        "gives no local expiry, so the first check after the pause is how it learns: "
        "lost{session_lost}. (The successor's token is higher, so fencing rejects the "
        "paused holder's writes.)",
        config(), init(), init_expect,
        steps + [
            step(timeout(60000), outputs=[c.check()], timeout=60500, state="held"),
            step(reply(60002, 3, TERMINATED),
                 outputs=[request_error(3, "connection", "57P01",
                                        "terminating connection due to administrator command"),
                          lost("session_lost", 58998)],
                 timeout=None, state="lost")])


def release_paths():
    c = Client()
    init_expect, steps = held(c)
    vector(
        "unanswered_unlock_then_not_held_counts_as_released",
        "The unlock gets no result in time (it may have run); the retry answers not_held, "
        "which is then our own first unlock's doing: released.",
        config(), init(), init_expect,
        steps + [
            step(release(1500), outputs=[c.unlock()], timeout=2000),
            step(timeout(2000), outputs=[timed_out(3)], timeout=2100, state="releasing"),
            step(timeout(2100), outputs=[c.unlock()], timeout=2600),
            step(reply(2102, 4, ROW("not_held", PID)), outputs=[released("released", 496)],
                 state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "unlock_unconfirmed_after_three_failures",
        "The unlock fails three times (server errors, retried after 100 and 200 ms): "
        "released{unconfirmed}: the host closes the connection, which ends the session and "
        "its lock.",
        config(), init(), init_expect,
        steps + [
            step(release(1500), outputs=[c.unlock()]),
            step(reply(1502, 3, ERR("server", "XX000", "internal")),
                 outputs=[request_error(3, "server", "XX000", "internal")], timeout=1602),
            step(timeout(1602), outputs=[c.unlock()]),
            step(reply(1604, 4, ERR("server", "XX000", "internal")),
                 outputs=[request_error(4, "server", "XX000", "internal")], timeout=1804),
            step(timeout(1804), outputs=[c.unlock()]),
            step(reply(1806, 5, ERR("server", "XX000", "internal")),
                 outputs=[request_error(5, "server", "XX000", "internal"),
                          released("unconfirmed", 496)],
                 timeout=None, state="released")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "unlock_connection_error_is_session_lost",
        "The connection breaks during the unlock: the session, and the lock, are gone: "
        "released{session_lost}.",
        config(), init(), init_expect,
        steps + [
            step(release(1500), outputs=[c.unlock()]),
            step(reply(1502, 3, ERR("connection", "", "server closed the connection")),
                 outputs=[request_error(3, "connection", "", "server closed the connection"),
                          released("session_lost", 496)],
                 state="released")])

    c = Client()
    vector(
        "deadline_with_try_lock_in_flight_unlocks",
        "The acquire deadline passes while the first try_lock has not answered: it may still "
        "take the lock, so an unlock follows it (pid unknown yet: 0, unguarded) before "
        "acquire_failed{deadline}. The try_lock's late result is ignored.",
        config(), init(timeout=300),
        {"outputs": [c.try_lock()], "timeout": 1300},
        [step(timeout(1300), outputs=[c.unlock(pid=0)], timeout=1800, state="releasing"),
         step(reply(1301, 1, ROW("locked", PID)), outputs=[], state="releasing"),
         step(reply(1302, 2, ROW("unlocked", PID)), outputs=[acquire_failed("deadline", 302)],
              timeout=None, state="failed")])

    c = Client()
    vector(
        "cancel_during_the_fence_unlocks",
        "release while the fence is in flight: the lock was taken, so it is unlocked (guarded "
        "by the pid) before acquire_failed{cancelled}.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked", PID)), outputs=[c.fence()]),
         step(release(1003), outputs=[c.unlock()], state="releasing"),
         step(reply(1004, 2, ROW(7, PID)), outputs=[], state="releasing"),
         step(reply(1005, 3, ROW("unlocked", PID)), outputs=[acquire_failed("cancelled", 5)],
              state="failed", lock=None)])

    c = Client()
    vector(
        "cancel_while_waiting_sends_nothing",
        "release while waiting for the next attempt (after busy): nothing is held, so "
        "acquire_failed{cancelled} at once.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("busy", PID)), outputs=[busy(1, 1102)]),
         step(release(1050), outputs=[acquire_failed("cancelled", 50, contended=1)],
              timeout=None, state="failed")])


def failures():
    c = Client()
    vector(
        "malformed_row_is_a_protocol_error_and_retried",
        "A try_lock row of the wrong shape (one column), then one with a boolean where the "
        "answer text belongs: protocol errors, retried with the backoff (100, then 200 ms). "
        "The third attempt answers held: one of the two malformed attempts took it.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ROW("locked")),
              outputs=[request_error(1, "protocol", "",
                                     "expected a row of two columns (value, pg_backend_pid())")],
              timeout=1102),
         step(timeout(1102), outputs=[c.try_lock()]),
         step(reply(1104, 2, ROW(True, PID)),
              outputs=[request_error(2, "protocol", "",
                                     "unexpected first column in the result of try_lock")],
              timeout=1304),
         step(timeout(1304), outputs=[c.try_lock()]),
         step(reply(1306, 3, ROW("held", PID)), outputs=[c.fence()]),
         step(reply(1308, 4, ROW(2, PID)), outputs=[acquired(2, 1308, 308, attempts=3)])])

    c = Client()
    vector(
        "server_error_on_try_lock_exhausts_attempts_and_unlocks",
        "try_lock fails with server errors three times in a row: max_attempts (3) is "
        "reached. A failed try_lock may have taken the lock (session locks survive a failed "
        "statement), so the acquisition unlocks (no row came back, so the pid is unknown: "
        "0) before acquire_failed{attempts_exhausted}.",
        config(), init(),
        {"outputs": [c.try_lock()]},
        [step(reply(1002, 1, ERR("server", "57014", "canceling statement")),
              outputs=[request_error(1, "server", "57014", "canceling statement")],
              timeout=1102),
         step(timeout(1102), outputs=[c.try_lock()]),
         step(reply(1104, 2, ERR("server", "57014", "canceling statement")),
              outputs=[request_error(2, "server", "57014", "canceling statement")],
              timeout=1304),
         step(timeout(1304), outputs=[c.try_lock()]),
         step(reply(1306, 3, ERR("server", "57014", "canceling statement")),
              outputs=[request_error(3, "server", "57014", "canceling statement"),
                       c.unlock(pid=0)],
              state="releasing"),
         step(reply(1308, 4, ROW("not_held", PID)),
              outputs=[acquire_failed("attempts_exhausted", 308, attempts=3)],
              state="failed")])

    c = Client()
    init_expect, steps = held(c)
    vector(
        "usage_errors_leave_the_machine_unchanged",
        "Time going backwards, a time above 2^53 - 1, an unknown request, a second reply and "
        "a second release are usage errors with stable codes; the machine is unchanged and "
        "emits nothing.",
        config(), init(), init_expect,
        steps + [
            step(timeout(999), error="NON_MONOTONIC_TIME"),
            step(timeout(2 ** 53), error="TIME_OUT_OF_RANGE"),
            step(reply(1005, 3, DONE), error="UNKNOWN_REQUEST"),
            step(reply(1005, 0, DONE), error="UNKNOWN_REQUEST"),
            step(reply(1005, 2, ROW(7, PID)), error="DUPLICATE_REPLY"),
            step(timeout(1005), outputs=[], timeout=2004, state="held"),
            step(release(1010), outputs=[c.unlock()], state="releasing"),
            step(release(1011), error="INVALID_STATE")])

    def bad(file, description, code, cfg=None, **init_):
        vector(file, description, cfg or config(), init(**init_), {"error": code})

    bad("config_empty_name", "An empty lock name is EMPTY_RESOURCE.", "EMPTY_RESOURCE",
        name="")
    bad("config_name_with_nul", "PostgreSQL text cannot hold NUL: INVALID_NAME.",
        "INVALID_NAME", name="or\u0000ders")
    bad("config_name_too_long", "A name above 512 UTF-8 bytes is RESOURCE_TOO_LONG.",
        "RESOURCE_TOO_LONG", name="\u00e9" * 257)
    bad("config_request_timeout_zero", "request_timeout 0 is INVALID_NODE_TIMEOUT.",
        "INVALID_NODE_TIMEOUT", cfg=config(request_timeout=0))
    bad("config_check_interval_zero", "check_interval 0 is INVALID_WAIT.", "INVALID_WAIT",
        cfg=config(check_interval=0))
    bad("config_retry_base_above_max", "A base delay above the max delay is INVALID_RETRY.",
        "INVALID_RETRY", cfg=config(retry={"base_delay": 2000}))
    bad("config_acquire_timeout_zero",
        "An advisory lock with an acquire timeout of 0 is INVALID_TIMEOUT.",
        "INVALID_TIMEOUT", timeout=0)
    bad("config_start_time_out_of_range", "A start time above 2^53 - 1 is TIME_OUT_OF_RANGE.",
        "TIME_OUT_OF_RANGE", now=2 ** 53)


def main():
    basics()
    pinning()
    loss()
    release_paths()
    failures()
    write_vectors(OUT)


if __name__ == "__main__":
    main()
