#!/usr/bin/env python3
"""Writes the etcd JSON-gateway codec vectors (conformance/vectors/etcd_gateway/*.json).

Two steps:

  python3 conformance/fillers/etcd_gateway.py --capture
      starts a throw-away etcd (Debian etcd-server, 3.4) on free loopback ports, runs a
      lock's life through its JSON gateway with curl (grant, acquire txn on both
      branches, predecessor and owner reads, keep-alive, watch stream, guarded unlock,
      stale unlock, proclaim, revoke, lease-not-found errors, a compacted watch), and
      stores every request body sent and every raw response body received in
      conformance/fillers/etcd_gateway_capture.json. The request bodies are written
      here by hand from the gateway's rules (base64 keys, int64 as strings, proto
      field names), independently of the Rust encoder.

  python3 conformance/fillers/etcd_gateway.py
      turns the stored capture into vectors. Each case pairs a command (the core's
      vocabulary) with the request the encoder must produce (path + body, compared as
      JSON) and the real response with the reply the decoder must produce. The
      expected replies come from this file's own decoder, written from the rules in
      the research notes (section 2.2): absent `succeeded` = false, absent `kvs` =
      none, absent keep-alive `TTL` = the lease is gone, PUT watch events have no
      `type`, gRPC errors {"error", "code", "message"}. Malformed bodies (not from a
      server) go to a separate, synthetic vector.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, "etcd_gateway_capture.json")
OUT = os.path.join(HERE, "..", "vectors", "etcd_gateway")
NAME = "capture"
MAX_COUNTER = (1 << 53) - 1


def b64(text):
    return base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------ capture

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fencelock-capture-")
        self.port, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "capture", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"capture=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            out = subprocess.run(["curl", "-s", f"{self.url}/health"], capture_output=True,
                                 text=True).stdout
            if '"health":"true"' in out:
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit("etcd did not become healthy")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def post(etcd, path, body):
    """POST body (a dict, sent as compact JSON) with curl; returns the raw body text."""
    data = json.dumps(body, separators=(",", ":"))
    out = subprocess.run(["curl", "-sS", "-X", "POST", "--data-binary", "@-", etcd.url + path],
                         input=data, capture_output=True, text=True, check=True).stdout
    return out


class WatchStream:
    """curl -N on /v3/watch in the background; collects the NDJSON lines."""

    def __init__(self, etcd, body):
        data = json.dumps(body, separators=(",", ":"))
        self.proc = subprocess.Popen(
            ["curl", "-sS", "-N", "--max-time", "10", "-X", "POST", "--data-binary", data,
             etcd.url + "/v3/watch"], stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.append(line.rstrip("\n"))

    def wait_for(self, count):
        deadline = time.time() + 8
        while len(self.lines) < count and time.time() < deadline:
            time.sleep(0.05)
        self.proc.terminate()
        self.proc.wait()
        return self.lines[:count]


def capture():
    version = subprocess.run(["etcd", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    etcd = Etcd()
    pairs = []
    try:
        def call(label, path, body):
            response = post(etcd, path, body)
            pairs.append({"label": label, "path": path, "body": body, "response": response})
            return json.loads(response)

        prefix, end = b64(f"{NAME}/"), b64(f"{NAME}0")
        owner = {"key": prefix, "range_end": end, "limit": "1", "sort_order": "ASCEND",
                 "sort_target": "CREATE"}

        def acquire(lease):
            key = b64(f"{NAME}/{int(lease):x}")
            return {"compare": [{"key": key, "target": "CREATE", "result": "EQUAL",
                                 "create_revision": "0"}],
                    "success": [{"request_put": {"key": key, "value": "", "lease": lease}},
                                {"request_range": owner}],
                    "failure": [{"request_range": {"key": key}}, {"request_range": owner}]}

        def guarded(lease, rev, op):
            key = b64(f"{NAME}/{int(lease):x}")
            return {"compare": [{"key": key, "target": "CREATE", "result": "EQUAL",
                                 "create_revision": str(rev)}],
                    "success": [op(key)], "failure": []}

        l1 = call("grant", "/v3/lease/grant", {"TTL": "10"})["ID"]
        l2 = call("grant_second", "/v3/lease/grant", {"TTL": "10"})["ID"]
        rev1 = int(call("acquire_uncontended", "/v3/kv/txn", acquire(l1))["header"]["revision"])
        call("acquire_retry_finds_own_key", "/v3/kv/txn", acquire(l1))
        rev2 = int(call("acquire_contended", "/v3/kv/txn", acquire(l2))["header"]["revision"])
        pred = call("predecessor", "/v3/kv/range",
                    {"key": prefix, "range_end": end, "limit": "1", "sort_order": "DESCEND",
                     "sort_target": "CREATE", "max_create_revision": str(rev2 - 1)})
        call("no_predecessor", "/v3/kv/range",
             {"key": prefix, "range_end": end, "limit": "1", "sort_order": "DESCEND",
              "sort_target": "CREATE", "max_create_revision": str(rev1 - 1)})
        call("leader", "/v3/kv/range", owner)
        call("confirm", "/v3/kv/range", {"key": b64(f"{NAME}/{int(l2):x}")})
        watch_body = {"create_request": {"key": b64(f"{NAME}/{int(l1):x}"),
                                         "start_revision": pred["header"]["revision"]}}
        stream = WatchStream(etcd, watch_body)
        time.sleep(0.5)
        call("keep_alive", "/v3/lease/keepalive", {"ID": l1})
        call("unlock", "/v3/kv/txn",
             guarded(l1, rev1, lambda k: {"request_delete_range": {"key": k}}))
        lines = stream.wait_for(2)
        pairs.append({"label": "watch_delete", "path": "/v3/watch", "body": watch_body,
                      "lines": lines})
        call("stale_unlock", "/v3/kv/txn",
             guarded(l1, rev1, lambda k: {"request_delete_range": {"key": k}}))
        head = int(call("proclaim", "/v3/kv/txn", guarded(
            l2, rev2, lambda k: {"request_put": {"key": k, "value": b64("node-2"),
                                                  "lease": l2}}))["header"]["revision"])
        prefix_watch = {"create_request": {"key": prefix, "range_end": end,
                                           "start_revision": str(head)}}
        stream = WatchStream(etcd, prefix_watch)
        lines = stream.wait_for(2)
        pairs.append({"label": "watch_put", "path": "/v3/watch", "body": prefix_watch,
                      "lines": lines})
        call("revoke", "/v3/lease/revoke", {"ID": l1})
        call("revoke_unknown", "/v3/lease/revoke", {"ID": l1})
        call("keep_alive_gone", "/v3/lease/keepalive", {"ID": l1})
        call("acquire_with_dead_lease", "/v3/kv/txn", acquire(l1))
        post(etcd, "/v3/kv/compaction", {"revision": str(head)})
        compacted = {"create_request": {"key": prefix, "range_end": end,
                                        "start_revision": str(rev1)}}
        stream = WatchStream(etcd, compacted)
        lines = stream.wait_for(2)
        pairs.append({"label": "watch_compacted", "path": "/v3/watch", "body": compacted,
                      "lines": lines})
        response = subprocess.run(["curl", "-sS", "-X", "POST", "--data-binary", '{"key": 12',
                                   etcd.url + "/v3/kv/range"], capture_output=True,
                                  text=True).stdout
        pairs.append({"label": "bad_request", "path": "/v3/kv/range", "body": None,
                      "response": response})
    finally:
        etcd.stop()
    with open(CAPTURE, "w") as f:
        json.dump({"etcd": version, "name": NAME, "pairs": pairs}, f, indent=1)
        f.write("\n")
    print(f"captured {len(pairs)} exchanges from {version} into {os.path.relpath(CAPTURE)}",
          file=sys.stderr)


# ------------------------------------------------------------ expected replies

def int64(value):
    if value is None:
        return 0
    return int(value)


def text(value):
    return base64.b64decode(value).decode("utf-8", "replace") if value else ""


def lease(value):
    n = int64(value)
    return str(n) if n else None


def kv(item):
    return {"key": text(item["key"]), "create_revision": int64(item.get("create_revision")),
            "mod_revision": int64(item.get("mod_revision")),
            "version": int64(item.get("version")), "lease": lease(item.get("lease")),
            "value": text(item.get("value"))}


def grpc_error(obj):
    code = obj.get("code", 0)
    message = obj.get("message") or obj.get("error", "")
    kind = "lease_not_found" if code == 5 and "lease not found" in message else "server"
    return {"type": "error", "kind": kind, "message": f"grpc code {code}: {message}"}


def expected_reply(command, body):
    obj = json.loads(body)
    if "header" not in obj and "result" not in obj and ("error" in obj or "code" in obj):
        return grpc_error(obj)
    kind = command["type"]
    if kind == "lease_grant":
        return {"type": "lease_granted", "lease": lease(obj["ID"]), "ttl": int64(obj.get("TTL"))}
    if kind == "lease_keep_alive":
        return {"type": "lease_kept_alive", "ttl": int64(obj["result"].get("TTL"))}
    if kind == "lease_revoke":
        return {"type": "lease_revoked"}
    revision = int64(obj["header"]["revision"])
    if kind == "range":
        return {"type": "range", "revision": revision, "kvs": [kv(x) for x in obj.get("kvs", [])]}
    assert kind == "txn", kind
    responses = []
    for item in obj.get("responses", []):
        if "response_range" in item:
            responses.append({"type": "range",
                              "kvs": [kv(x) for x in item["response_range"].get("kvs", [])]})
        elif "response_put" in item:
            responses.append({"type": "put"})
        else:
            responses.append({"type": "delete_range",
                              "deleted": int64(item["response_delete_range"].get("deleted"))})
    return {"type": "txn", "succeeded": obj.get("succeeded", False), "revision": revision,
            "responses": responses}


def expected_watch_line(line):
    obj = json.loads(line)
    if "result" not in obj:
        return grpc_error(obj)
    result = obj["result"]
    if int64(result.get("compact_revision")):
        return {"type": "watch_compacted", "compact_revision": int64(result["compact_revision"])}
    if result.get("canceled"):
        return {"type": "watch_canceled", "reason": result.get("cancel_reason", "")}
    if not result.get("events"):
        return None  # the "created" message, a progress notification
    events = [{"type": "delete" if e.get("type") == "DELETE" else "put", "kv": kv(e["kv"])}
              for e in result["events"]]
    return {"type": "watch", "revision": int64(result["header"].get("revision")),
            "events": events}


# ------------------------------------------------------------ our vocabulary

def range_cmd(req, key, range_end=None, limit=0, order=None, max_create_revision=None):
    return {"type": "range", "req": req, "range": {
        "key": key, "range_end": range_end, "limit": limit,
        "sort": {"target": "create", "order": order} if order else None,
        "max_create_revision": max_create_revision}}


def command_for(pair, name):
    """The core command whose encoding is pair['body'] (stated from the body, by hand)."""
    body, path = pair["body"], pair["path"]
    prefix, end = f"{name}/", f"{name}0"
    owner = {"key": prefix, "range_end": end, "limit": 1,
             "sort": {"target": "create", "order": "ascend"}, "max_create_revision": None}
    if path == "/v3/lease/grant":
        return {"type": "lease_grant", "req": 1, "ttl": int(body["TTL"])}
    if path == "/v3/lease/keepalive":
        return {"type": "lease_keep_alive", "req": 1, "lease": body["ID"]}
    if path == "/v3/lease/revoke":
        return {"type": "lease_revoke", "req": 1, "lease": body["ID"]}
    if path == "/v3/kv/range":
        if body is None:
            return range_cmd(1, prefix, end)
        order = {"ASCEND": "ascend", "DESCEND": "descend"}.get(body.get("sort_order"))
        max_rev = body.get("max_create_revision")
        return range_cmd(1, text(body["key"]), text(body["range_end"]) if "range_end" in body
                         else None, int(body.get("limit", 0)), order,
                         int(max_rev) if max_rev else None)
    if path == "/v3/watch":
        create = body["create_request"]
        return {"type": "watch", "req": 1, "key": text(create["key"]),
                "range_end": text(create["range_end"]) if "range_end" in create else None,
                "start_revision": int(create["start_revision"])}
    assert path == "/v3/kv/txn", path
    compare = [{"type": "create_revision", "key": text(c["key"]),
                "revision": int(c["create_revision"])} for c in body["compare"]]

    def op(item):
        if "request_put" in item:
            put = item["request_put"]
            return {"type": "put", "key": text(put["key"]), "value": text(put["value"]),
                    "lease": put.get("lease")}
        if "request_delete_range" in item:
            return {"type": "delete_range", "key": text(item["request_delete_range"]["key"])}
        r = item["request_range"]
        if r.get("range_end"):
            return {"type": "range", **owner}
        return {"type": "range", "key": text(r["key"]), "range_end": None, "limit": 0,
                "sort": None, "max_create_revision": None}
    return {"type": "txn", "req": 1, "compare": compare,
            "success": [op(x) for x in body["success"]],
            "failure": [op(x) for x in body["failure"]]}


DESCRIPTIONS = {
    "grant": "Lease grant: TTL sent as an int64 string; the lease id comes back as a string "
             "above 2^53 and must be kept exactly.",
    "grant_second": "A second grant: another lease id, same shape.",
    "acquire_uncontended": "Acquire txn (create_revision == 0 then put + first-created range): "
                           "succeeded true, the owner is our own key; header revision = token.",
    "acquire_retry_finds_own_key": "The same acquire txn again: the compare fails, so the gateway "
                                   "omits 'succeeded' (false) and the failure branch returns our "
                                   "existing key and the owner.",
    "acquire_contended": "A second lease's acquire txn: succeeded, but the owner range names the "
                         "first lease's key: queued.",
    "predecessor": "Predecessor read (create revision descending, limit 1, max_create_revision "
                   "= ours - 1): the immediate predecessor only.",
    "no_predecessor": "Predecessor read below the first key: no kvs field at all (none).",
    "leader": "First-created read (the owner / leader): sort ascending, limit 1.",
    "confirm": "Confirm read of our own key: key, create revision, lease (int64 strings).",
    "keep_alive": "One keep-alive per request: result.TTL renewed.",
    "unlock": "Guarded unlock (create_revision == ours, then delete): succeeded, deleted 1.",
    "watch_delete": "Watch stream of the first key from the predecessor read's header revision: "
                    "the created message (no answer), then the DELETE event.",
    "stale_unlock": "The same guarded unlock again (a stale retry): no 'succeeded' (false) and no "
                    "responses: nothing deleted.",
    "proclaim": "Proclaim: guarded put of a new value with our lease: succeeded, response_put.",
    "watch_put": "Watch of the whole prefix: a PUT event has no 'type' field.",
    "revoke": "Lease revoke: only a header.",
    "revoke_unknown": "Revoking a lease that no longer exists: a gRPC error body, code 5, "
                      "'requested lease not found' (HTTP 404): lease_not_found.",
    "keep_alive_gone": "Keep-alive of a revoked lease: a result without TTL: TTL 0, the lease is "
                       "gone.",
    "acquire_with_dead_lease": "Acquire txn with a revoked lease: lease not found.",
    "watch_compacted": "Watch from a compacted revision: created, then canceled with "
                       "compact_revision.",
    "bad_request": "What etcd answers to a malformed request body: a gRPC error (code 3); any "
                   "command's decoder reads it as a server error.",
}


def build():
    with open(CAPTURE) as f:
        captured = json.load(f)
    name = captured["name"]
    source = (f"{captured['etcd']} (Debian etcd-server) on 127.0.0.1, captured with curl by "
              "conformance/fillers/etcd_gateway.py --capture")
    vectors = {}
    for pair in captured["pairs"]:
        label = pair["label"]
        command = command_for(pair, name)
        if "lines" in pair:
            cases = [{"command": command,
                      "request": {"path": "/v3/watch", "body": pair["body"]}}]
            cases += [{"watch_line": line, "reply": expected_watch_line(line)}
                      for line in pair["lines"]]
            stream = "\n".join(pair["lines"]) + "\n"
            cases.append({"command": command, "response": stream,
                          "reply": next(expected_watch_line(x) for x in pair["lines"]
                                        if expected_watch_line(x) is not None)})
        else:
            case = {"command": command}
            if pair["body"] is not None:
                case["request"] = {"path": pair["path"], "body": pair["body"]}
            case["response"] = pair["response"]
            case["reply"] = expected_reply(command, pair["response"])
            cases = [case]
        vectors[f"gateway_{label}"] = {
            "codec": "etcd_gateway",
            "description": f"etcd 3.4 gateway: {DESCRIPTIONS[label]}",
            "source": source,
            "cases": cases,
        }
    vectors["gateway_cancel_watch_has_no_request"] = {
        "codec": "etcd_gateway",
        "description": "cancel_watch is not a request: the encoder returns none (the host "
                       "aborts the watch's fetch).",
        "source": "synthetic",
        "cases": [{"command": {"type": "cancel_watch", "watch": 4}, "request": None}],
    }
    rng = {"type": "range", "req": 1, "range": {"key": "k", "range_end": None, "limit": 0,
                                                 "sort": None, "max_create_revision": None}}
    grant = {"type": "lease_grant", "req": 1, "ttl": 10}
    keep = {"type": "lease_keep_alive", "req": 1, "lease": "7"}
    txn = {"type": "txn", "req": 1, "compare": [], "success": [], "failure": []}
    malformed = [
        (rng, "", "ETCD_GATEWAY_JSON"),
        (rng, "{\"header\":", "ETCD_GATEWAY_JSON"),
        (rng, "[1,2]", "ETCD_GATEWAY_JSON"),
        (rng, "\"text\"", "ETCD_GATEWAY_JSON"),
        (rng, "{}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"12a\"}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"-3\"}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":3.5}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":true}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"9007199254740992\"}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"2\"},\"kvs\":{}}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"create_revision\":\"2\"}]}",
         "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"***\"}]}",
         "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ==\","
              "\"lease\":\"18446744073709551616\"}]}", "ETCD_GATEWAY_FIELD"),
        (rng, "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ==\","
              "\"lease\":\"9223372036854775808\"}]}", "ETCD_GATEWAY_FIELD"),
        (grant, "{\"header\":{\"revision\":\"1\"},\"TTL\":\"10\"}", "ETCD_GATEWAY_FIELD"),
        (grant, "{\"header\":{\"revision\":\"1\"},\"ID\":\"x1\",\"TTL\":\"10\"}",
         "ETCD_GATEWAY_FIELD"),
        (grant, "{\"header\":{\"revision\":\"1\"},\"ID\":\"18446744073709551616\",\"TTL\":\"10\"}",
         "ETCD_GATEWAY_FIELD"),
        (keep, "{\"header\":{\"revision\":\"1\"}}", "ETCD_GATEWAY_FIELD"),
        (keep, "{\"result\":{\"TTL\":\"ten\"}}", "ETCD_GATEWAY_FIELD"),
        (txn, "{\"header\":{\"revision\":\"2\"},\"succeeded\":\"yes\"}", "ETCD_GATEWAY_FIELD"),
        (txn, "{\"header\":{\"revision\":\"2\"},\"responses\":[{\"response_txn\":{}}]}",
         "ETCD_GATEWAY_FIELD"),
        (txn, "{\"header\":{\"revision\":\"2\"},\"responses\":\"none\"}", "ETCD_GATEWAY_FIELD"),
    ]
    cases = [{"command": c, "response": body, "error": code} for c, body, code in malformed]
    cases += [
        {"watch_line": "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":"
                       "[{\"type\":\"EXPIRE\",\"kv\":{\"key\":\"YQ==\"}}]}}",
         "error": "ETCD_GATEWAY_FIELD"},
        {"watch_line": "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{}]}}",
         "error": "ETCD_GATEWAY_FIELD"},
        {"watch_line": "{\"header\":{}}", "error": "ETCD_GATEWAY_FIELD"},
        {"watch_line": "not json", "error": "ETCD_GATEWAY_JSON"},
        {"watch_line": "{\"result\":{\"header\":{\"revision\":\"5\"}}}", "reply": None},
        {"watch_line": "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
                       "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}",
         "reply": {"type": "error", "kind": "server",
                   "message": "grpc code 14: etcdserver: no leader"}},
        {"command": {"type": "watch", "req": 1, "key": "a", "range_end": None,
                     "start_revision": 3},
         "response": "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\n",
         "error": "ETCD_GATEWAY_FIELD"},
    ]
    vectors["gateway_malformed_bodies_are_typed_errors"] = {
        "codec": "etcd_gateway",
        "description": "Malformed gateway bodies never panic: not JSON or not an object is "
                       "ETCD_GATEWAY_JSON; a missing header or key, a non-numeric, negative, "
                       "fractional or boolean revision, a revision above 2^53-1, bad base64, a "
                       "lease id beyond int64, a non-boolean succeeded, an unknown response or "
                       "watch event type is ETCD_GATEWAY_FIELD. A stream error line is a server "
                       "error reply; a progress message is no answer.",
        "source": "synthetic",
        "cases": cases,
    }
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    for name_, body in vectors.items():
        with open(os.path.join(OUT, f"{name_}.json"), "w") as f:
            json.dump(body, f, indent=1)
            f.write("\n")
    print(f"wrote {len(vectors)} vectors to {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    if "--capture" in sys.argv[1:]:
        capture()
    build()
