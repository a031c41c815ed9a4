"""The config schema (workflow/schemas/config.schema.yaml) and one validator for any part of it.

    load_schema()                                  the whole schema (a dict)
    subschema("training", "verl")                  the schema of one section (keys of `properties`)
    validate_section(value, schema, where, defaults=True)

Every stage that checks a part of the config (the whole config, a stage's --params-json, one size's
overrides, the verl settings, a rule family's resources) calls `validate_section`, so every error reads
`KEY.PATH: message` with the config key it concerns.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml

from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _schema_cached() -> dict[str, Any]:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict[str, Any]:
    """The config schema as a new dict (callers may modify it)."""
    return copy.deepcopy(_schema_cached())


def subschema(*keys: str) -> dict[str, Any]:
    """The schema of config key `keys` (each a key of `properties`; `$defs/NAME` is looked up in $defs)."""
    node = _schema_cached()
    for key in keys:
        if key.startswith("$defs/"):
            node = node["$defs"][key.split("/", 1)[1]]
        else:
            node = node["properties"][key]
    return copy.deepcopy(node)


def with_defaults(validator_class: Any) -> Any:
    """A jsonschema validator class that fills in `default` values of properties (as Snakemake's
    validate does)."""
    import jsonschema

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def errors(value: Any, schema: dict[str, Any], *, defaults: bool = False) -> list[tuple[str, str]]:
    """(dotted path, message) of every violation of `schema` by `value`, sorted by path. With
    `defaults`, missing properties that have a default are filled into `value` in place."""
    import jsonschema

    cls = with_defaults(jsonschema.Draft202012Validator) if defaults else jsonschema.Draft202012Validator
    found = sorted(cls(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [(".".join(str(p) for p in e.absolute_path), e.message) for e in found]


def validate_section(value: Any, schema: dict[str, Any], where: str, *, defaults: bool = False) -> Any:
    """Check `value` against `schema`; raise UserError `WHERE.PATH: message` for the first violation.
    Returns `value` (with defaults filled in, in place, when `defaults`)."""
    found = errors(value, schema, defaults=defaults)
    if found:
        path, message = found[0]
        key = ".".join(p for p in (where, path) if p)
        raise UserError(f"{key}: {message}")
    return value
