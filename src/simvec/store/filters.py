"""The metadata filter language, compiled to a parameterised SQL condition over the JSON metadata column.

    {"field": value}                                   field equals value
    {"field": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": value}}
    {"field": {"$in"|"$nin": [value, ...]}}            (at most MAX_IN_VALUES values)
    {"$and": [filter, ...]}, {"$or": [filter, ...]}
    several keys in one object                         all must hold ($and)

Values are str, int, float (finite), bool or None. Comparison is type-strict (1 never equals "1",
and $gt/$gte/$lt/$lte compare numbers with numbers and strings with strings only);
True/False compare as 1/0, as SQLite stores JSON booleans. A missing field equals None, so
`$ne` and `$nin` match documents without the field; range operators never match them.
Field names and values only ever travel as SQL parameters, never as SQL text.
"""

from __future__ import annotations

import json
import math
from typing import Any

from simvec.errors import FilterError

COMPARISONS = {"$eq": "IS", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
LIST_OPERATORS = ("$in", "$nin")
LOGICAL = ("$and", "$or")
MAX_IN_VALUES = 10_000
MAX_DEPTH = 32


def _invalid(message: str, part: Any) -> FilterError:
    """A FilterError whose message shows the offending part of the filter."""
    error = FilterError(f"invalid filter: {message} in {_show(part)}")
    error.part = part
    return error


def _show(part: Any) -> str:
    try:
        text = json.dumps(part, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(part)
    return text if len(text) <= 200 else text[:197] + "..."


def _scalar(value: Any, part: Any, *, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(f"value {value!r} is not a finite number", part)
        return value
    if isinstance(value, str):
        return value
    kind = "None" if value is None else type(value).__name__
    raise _invalid(f"value of type {kind} is not allowed here (use str, int, float or bool)", part)


def _field_expr(field: str, part: Any, params: list) -> str:
    if not field or "\x00" in field or '"' in field:
        raise _invalid(f"field name {field!r} is not allowed (it must be non-empty, without '\"')", part)
    params.append(f'$."{field}"')
    return "json_extract(metadata, ?)"


def _field_condition(field: str, spec: Any, params: list) -> str:
    if not isinstance(spec, dict):
        expr = _field_expr(field, {field: spec}, params)
        params.append(_scalar(spec, {field: spec}))
        return f"{expr} IS ?"
    if not spec:
        raise _invalid(f"no operator given for field {field!r}", {field: spec})
    clauses = []
    for op, value in spec.items():
        part = {field: {op: value}}
        if op in ("$eq", "$ne"):
            expr = _field_expr(field, part, params)
            params.append(_scalar(value, part))
            clauses.append(f"{expr} {COMPARISONS[op]} ?")
        elif op in COMPARISONS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise _invalid(f"{op} needs a number or a string, got {type(value).__name__}", part)
            # SQLite orders every number before every string; keep ranges within one type.
            types = "('text')" if isinstance(value, str) else "('integer', 'real')"
            expr = _field_expr(field, part, params)
            params.append(_scalar(value, part))
            params.append(params[-2])
            clauses.append(f"({expr} {COMPARISONS[op]} ? AND json_type(metadata, ?) IN {types})")
        elif op in LIST_OPERATORS:
            if not isinstance(value, (list, tuple)):
                raise _invalid(f"{op} needs a list of values, got {type(value).__name__}", part)
            if len(value) > MAX_IN_VALUES:
                raise _invalid(f"{op} has {len(value):,} values; the limit is {MAX_IN_VALUES:,}", part)
            values = [_scalar(v, part, allow_none=False) for v in value]
            if not values:
                clauses.append("0" if op == "$in" else "1")
                continue
            expr = _field_expr(field, part, params)
            marks = ", ".join("?" * len(values))
            params.extend(values)
            if op == "$in":
                clauses.append(f"{expr} IN ({marks})")
            else:  # a missing field is "not in" the list, as in MongoDB
                params.append(params[-len(values) - 1])
                clauses.append(f"({expr} NOT IN ({marks}) OR json_extract(metadata, ?) IS NULL)")
        else:
            known = ", ".join([*COMPARISONS, *LIST_OPERATORS])
            raise _invalid(f"unknown operator {op!r} for field {field!r} (known: {known})", part)
    return " AND ".join(clauses)


def _compile(node: Any, params: list, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise _invalid(f"nested deeper than {MAX_DEPTH} levels", node)
    if not isinstance(node, dict):
        raise _invalid(f'expected an object like {{"field": value}}, got {type(node).__name__}', node)
    clauses = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise _invalid(f"key {key!r} is not a string", node)
        if key in LOGICAL:
            if not isinstance(value, (list, tuple)) or not value:
                raise _invalid(f"{key} needs a non-empty list of filters", {key: value})
            parts = [_compile(sub, params, depth + 1) for sub in value]
            clauses.append("(" + (" AND " if key == "$and" else " OR ").join(f"({p})" for p in parts) + ")")
        elif key.startswith("$"):
            raise _invalid(f"unknown operator {key!r} (logical operators: {', '.join(LOGICAL)})", {key: value})
        else:
            clauses.append(_field_condition(key, value, params))
    return " AND ".join(f"({c})" for c in clauses) if clauses else "1"


def compile_filter(filter: dict | None) -> tuple[str, list]:
    """(SQL condition over `metadata`, parameters) for a filter; None or {} matches everything."""
    if filter is None:
        return "1", []
    params: list = []
    return _compile(filter, params, 0), params
