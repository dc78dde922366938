"""Shared vocabulary of the conformance fillers (advisory.py, etcd.py, redlock.py,
zookeeper.py): the generic inputs, the vector registry and the writer.

Not run on its own; the fillers import it as a sibling module.
"""

import json
import os
import sys


def drift(ttl_ms, ppm=10_000):
    """The clock-drift allowance subtracted from a lease: ceil(ttl * ppm / 1e6) + 2 ms."""
    return -(-ttl_ms * ppm // 1_000_000) + 2


def ev(event_type, **fields):
    return {"event": {"type": event_type, **fields}}


def reply(now, req, result, node=None):
    step = {"type": "reply", "now": now, "req": req, "result": result}
    if node is not None:
        step["node"] = node
    return step


def timeout(now):
    return {"type": "timeout", "now": now}


def release(now):
    return {"type": "release", "now": now}


def step(input_, **expect):
    return {"input": input_, "expect": expect}


VECTORS = {}


def vector(machine, name, description, cfg, init, expect_init, steps=()):
    assert name not in VECTORS, name
    VECTORS[name] = {
        "machine": machine,
        "description": description,
        "config": cfg,
        "init": init,
        "expect_init": expect_init,
        "steps": list(steps),
    }


def write_vectors(out):
    """Replaces every *.json in out with the registered vectors, one file each.

    Non-ASCII text is written as is (ensure_ascii=False); the etcd and redlock vectors
    hold none, so their files are the same either way.
    """
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".json"):
            os.remove(os.path.join(out, old))
    for name, body in VECTORS.items():
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(body, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print(f"wrote {len(VECTORS)} vectors to {os.path.relpath(out)}", file=sys.stderr)
