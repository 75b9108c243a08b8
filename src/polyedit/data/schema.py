"""polyedit's own case format written down: `case.schema.json` (JSON Schema 2020-12), shipped with the
package, printed by `polyedit data schema`, and checked by `polyedit data validate --format jsonl` beside
the checks that building a case runs (`Edit.problems`, `Probe.problems`)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator

SCHEMA_FILE = "case.schema.json"


def schema_text() -> str:
    return resources.files("polyedit.data").joinpath(SCHEMA_FILE).read_text("utf-8")


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text()))


def schema_errors(record: Any) -> Iterator[tuple[str, str, bool]]:
    """(field path, message, unknown field) for each way `record` breaks the schema; `unknown field` marks
    a property the schema does not know (a warning: the loader ignores it and says so)."""
    for err in _validator().iter_errors(record):
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err.absolute_path).replace(".[", "[")
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for name in extra:
                yield (f"{path}.{name}" if path else name), "field not in the case schema, ignored", True
        elif err.validator == "required":
            missing = [n for n in err.validator_value if n not in err.instance]
            for name in missing:
                yield (f"{path}.{name}" if path else name), "missing (required by the case schema)", False
        else:
            yield path or None, f"{err.message} (case schema)", False
