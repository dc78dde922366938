#!/usr/bin/env python3
"""Sanity checks for the conformance vectors, independent of any runner.

- every vector (machine story or codec vector) is valid against
  conformance/schema/vector.schema.json;
- descriptions are unique, file names are snake_case;
- every error code a vector expects is listed in conformance/errors.json.

Needs the `jsonschema` package. Exit status 1 on any problem.
"""

import json
import pathlib
import re
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    schema = json.loads((ROOT / "schema" / "vector.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = json.loads((ROOT / "errors.json").read_text())
    known = {code for section in ("usage", "config", "binding", "wire") for code in errors[section]}
    problems = []
    descriptions = {}
    files = sorted((ROOT / "vectors").rglob("*.json"))
    for path in files:
        name = path.relative_to(ROOT)
        if not re.fullmatch(r"[a-z0-9_]+\.json", path.name):
            problems.append(f"{name}: file names are snake_case")
        vector = json.loads(path.read_text())
        for error in validator.iter_errors(vector):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{name}: {where}: {error.message[:200]}")
        description = vector.get("description")
        if description in descriptions:
            problems.append(f"{name}: same description as {descriptions[description]}")
        descriptions[description] = name
        expects = [vector.get("expect_init", {})] + [s.get("expect", {}) for s in vector.get("steps", [])]
        expects += vector.get("cases", [])  # codec vectors: each case may expect an error code
        for expect in expects:
            code = expect.get("error")
            if code is not None and code not in known:
                problems.append(f"{name}: error code {code} is not in errors.json")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"checked {len(files)} vectors: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
