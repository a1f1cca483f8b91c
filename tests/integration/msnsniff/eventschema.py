"""Validation of msnsniff events against docs/msnsniff-events.schema.json
(python3-jsonschema), shared by the tests that read msnsniff's output."""
import json
import os

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs",
                           "msnsniff-events.schema.json")
with open(SCHEMA_PATH) as _f:
    SCHEMA = json.load(_f)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def problems(events):
    """Every way the events break the schema, as readable lines (empty: all valid)."""
    out = []
    for i, e in enumerate(events):
        for err in VALIDATOR.iter_errors(e):
            where = "/".join(str(p) for p in err.absolute_path) or "(event)"
            out.append("event %d (%s) %s: %s" % (i + 1, e.get("event"), where, err.message))
    return out
