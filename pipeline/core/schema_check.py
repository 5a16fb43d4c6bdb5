"""A small JSON-Schema checker for the subset our own schemas use (no runtime dependency).

Keywords: ``type`` (one or a list), ``const``, ``enum``, ``required``, ``properties``,
``additionalProperties`` (a schema), ``items``, ``minimum``, ``maximum``. Anything else
in a schema is a programming error (:class:`ValueError` at check time), so a schema
cannot silently claim more than is checked. Numbers must also be finite: Python's
``json`` reads ``1e999`` as infinity and accepts ``NaN``. ``tests/test_report_input.py``
checks that this agrees with the ``jsonschema`` package on valid and broken reports.

Work is bounded by the size of the instance: one visit per value, no recursion into
schemas that are not there, depth capped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

KNOWN = frozenset({"$schema", "title", "description", "type", "const", "enum", "required", "properties",
                   "additionalProperties", "items", "minimum", "maximum"})
MAX_DEPTH = 64
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _where(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top level)"


def first_error(instance: Any, schema: Mapping, path: tuple = ()) -> str | None:
    """The first problem as 'where: what', or None if the instance is valid."""
    if len(path) > MAX_DEPTH:
        return f"{_where(path)}: nested deeper than {MAX_DEPTH} levels"
    if unknown := set(schema) - KNOWN:
        raise ValueError(f"schema uses unsupported keywords {sorted(unknown)}")
    if isinstance(instance, float) and not math.isfinite(instance):
        return f"{_where(path)}: {instance} is not a finite number"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return f"{_where(path)}: is {type(instance).__name__}, expected {' or '.join(types)}"
    if "const" in schema and instance != schema["const"]:
        return f"{_where(path)}: is {instance!r}, expected {schema['const']!r}"
    if "enum" in schema and instance not in schema["enum"]:
        return f"{_where(path)}: {instance!r} is not one of {', '.join(map(repr, schema['enum']))}"
    if _TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            return f"{_where(path)}: {instance} is below {schema['minimum']}"
        if "maximum" in schema and instance > schema["maximum"]:
            return f"{_where(path)}: {instance} is above {schema['maximum']}"
    if isinstance(instance, dict):
        for key in schema.get("required", ()):
            if key not in instance:
                return f"{_where(path)}: missing required key {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is not None and (err := first_error(value, sub, (*path, key))):
                return err
    if isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for i, value in enumerate(instance):
            if err := first_error(value, schema["items"], (*path, i)):
                return err
    return None
