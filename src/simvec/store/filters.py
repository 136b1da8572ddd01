"""The metadata filter language, compiled to one parameterised SQL query over the metadata index (`meta`).

    {"field": value}                                   field equals value
    {"field": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": value}}
    {"field": {"$in"|"$nin": [value, ...]}}            (at most MAX_IN_VALUES values)
    {"$and": [filter, ...]}, {"$or": [filter, ...]}
    several keys in one object                         all must hold ($and)

Depth: $and inside $and (or $or inside $or) merges into one level; alternating $and/$or/negations may nest
MAX_COMPILED_DEPTH (12) levels once compiled — at least 9 levels of alternating $and/$or whatever the leaves — so
that SQLite's parser accepts every filter that is accepted here; deeper ones are a FilterError up front.

Values are str, int, float (finite), bool or None. Comparison is type-strict (1 never equals "1",
and $gt/$gte/$lt/$lte compare numbers with numbers and strings with strings only);
True/False compare as 1/0, as SQLite stores JSON booleans. A missing field equals None, so
`$ne` and `$nin` match documents without the field; range operators never match them. A field holding a
list or an object matches only as present (`{"field": {"$ne": None}}`), never a value or a range.
Field names and values only ever travel as SQL parameters, never as SQL text.

A filter compiles to a tree of lookups in the `meta` table (one row per scalar metadata value: field, value,
doc; see `simvec.store.schema`), each a range of its primary key. The store evaluates the tree with numpy set
operations (`SQLiteStore.matching_labels`) or as one SQL query (`to_sql`: INTERSECT, UNION, NOT IN) where SQL
needs it (keyword search). Type strictness comes from SQLite's sort order (numbers < text < blob) and the
untyped `value` column, which never converts: a numeric range is bounded above by '' (the smallest text), a
text range by x'' (the smallest blob; list and object values are stored as blobs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from simvec.errors import FilterError

COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
EQUALITY = ("$eq", "$ne")
LIST_OPERATORS = ("$in", "$nin")
LOGICAL = ("$and", "$or")
MAX_IN_VALUES = 10_000
MAX_DEPTH = 32  # levels of filter objects; checked while compiling, so a deeper filter never recurses further
# Levels of the compiled tree (alternating and/or/not, after same-operator levels merge): what SQLite's parser must
# nest. Its stack (YYSTACKDEPTH 100) overflowed at 14 levels as rendered by `to_sql` (13 parsed); 12 leaves a margin, and
# tests/test_filters_depth.py runs every construct at this depth through SQL.
MAX_COMPILED_DEPTH = 12
MAX_COMPOUND = 200  # SQLite allows 500 terms in one compound SELECT; larger $and/$or lists are nested

EVERY_LABEL = "SELECT seq AS doc FROM docs"


@dataclass(frozen=True)
class Node:
    """A compiled filter: `op` is "lookup" (`sql` selecting labels as `doc`, with `params`), "and", "or", "not",
    "all" or "none"; `parts` are the operands of and/or/not."""

    op: str
    sql: str = ""
    params: tuple = ()
    parts: tuple[Node, ...] = ()


ALL, NONE = Node("all"), Node("none")


def _invalid(message: str, part: Any) -> FilterError:
    """A FilterError whose message shows the offending part of the filter."""
    error = FilterError(f"invalid filter: {message} in {_show(part)}")
    error.part = part
    return error


def _show(part: Any) -> str:
    try:
        text = json.dumps(_shallow(part, 4), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(_shallow(part, 4))
    return text if len(text) <= 200 else text[:197] + "..."


def _shallow(part: Any, levels: int) -> Any:
    """`part` cut off below `levels` levels (a 5,000-level filter must not recurse 5,000 times to show it)."""
    if not isinstance(part, (dict, list, tuple)):
        return part
    if levels == 0:
        return "..."
    if isinstance(part, dict):
        return {str(k): _shallow(v, levels - 1) for k, v in list(part.items())[:20]}
    return [_shallow(v, levels - 1) for v in list(part)[:20]]


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
        _check_unicode(value, part)
        return value
    kind = "None" if value is None else type(value).__name__
    raise _invalid(f"value of type {kind} is not allowed here (use str, int, float or bool)", part)


def _check_unicode(text: str, part: Any) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(f"{text!r} contains a lone surrogate (not valid Unicode)", part) from None


def _check_field(field: str, part: Any) -> None:
    if not field or "\x00" in field or '"' in field:
        raise _invalid(f"field name {field!r} is not allowed (it must be non-empty, without '\"')", part)
    _check_unicode(field, part)


def _lookup(field: str, condition: str, values: list, indexed: frozenset[str] | None) -> Node:
    table = "meta" if indexed is None or field in indexed else "meta_all"  # meta_all: a scan (see schema.py)
    return Node("lookup", f"SELECT doc FROM {table} WHERE field = ?{condition}", (field, *values))


def _not(node: Node) -> Node:
    return Node("not", parts=(node,))


def _combine(parts: list[Node], op: str) -> Node:
    # $and of $and (and $or of $or) flattens into one level: the same labels, less nesting in SQL
    flat = [inner for part in parts for inner in (part.parts if part.op == op else (part,))]
    return flat[0] if len(flat) == 1 else Node(op, parts=tuple(flat))


def _tree_depth(node: Node) -> int:
    wide = len(node.parts) > MAX_COMPOUND  # `_compound` nests a long list one level deeper
    return 1 + wide + max((_tree_depth(part) for part in node.parts), default=0)


def _operator(field: str, op: str, value: Any, indexed: frozenset[str] | None) -> Node:
    part = {field: {op: value}}
    if op in EQUALITY:
        scalar = _scalar(value, part)
        if scalar is None:  # null or missing: the field has no scalar or list value
            present = _lookup(field, "", [], indexed)
            return _not(present) if op == "$eq" else present
        query = _lookup(field, " AND value = ?", [scalar], indexed)
        return query if op == "$eq" else _not(query)
    if op in COMPARISONS:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _invalid(f"{op} needs a number or a string, got {type(value).__name__}", part)
        # numbers sort before '' (the smallest text), texts between '' and x'' (the smallest blob)
        within = " AND value >= '' AND value < x''" if isinstance(value, str) else " AND value < ''"
        return _lookup(field, f"{within} AND value {COMPARISONS[op]} ?", [_scalar(value, part)], indexed)
    if op in LIST_OPERATORS:
        if not isinstance(value, (list, tuple)):
            raise _invalid(f"{op} needs a list of values, got {type(value).__name__}", part)
        if len(value) > MAX_IN_VALUES:
            raise _invalid(f"{op} has {len(value):,} values; the limit is {MAX_IN_VALUES:,}", part)
        values = [_scalar(v, part, allow_none=False) for v in value]
        if not values:
            return NONE if op == "$in" else ALL
        query = _lookup(field, f" AND value IN ({', '.join('?' * len(values))})", values, indexed)
        return query if op == "$in" else _not(query)  # a missing field is "not in" the list, as in MongoDB
    known = ", ".join([*EQUALITY, *COMPARISONS, *LIST_OPERATORS])
    raise _invalid(f"unknown operator {op!r} for field {field!r} (known: {known})", part)


def _field_query(field: str, spec: Any, indexed: frozenset[str] | None) -> Node:
    _check_field(field, {field: spec})
    if not isinstance(spec, dict):
        return _operator(field, "$eq", spec, indexed)
    if not spec:
        raise _invalid(f"no operator given for field {field!r}", {field: spec})
    return _combine([_operator(field, op, value, indexed) for op, value in spec.items()], "and")


def _compile(node: Any, depth: int, indexed: frozenset[str] | None) -> Node:
    if depth > MAX_DEPTH:
        raise _invalid(f"nested deeper than {MAX_DEPTH} levels", node)
    if not isinstance(node, dict):
        raise _invalid(f'expected an object like {{"field": value}}, got {type(node).__name__}', node)
    parts = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise _invalid(f"key {key!r} is not a string", node)
        if key in LOGICAL:
            if not isinstance(value, (list, tuple)) or not value:
                raise _invalid(f"{key} needs a non-empty list of filters", {key: value})
            parts.append(_combine([_compile(sub, depth + 1, indexed) for sub in value], key[1:]))
        elif key.startswith("$"):
            raise _invalid(f"unknown operator {key!r} (logical operators: {', '.join(LOGICAL)})", {key: value})
        else:
            parts.append(_field_query(key, value, indexed))
    return _combine(parts, "and") if parts else ALL


def indexed_field_names(fields: Any) -> list[str] | None:
    """The `indexed_fields` of a new collection as a sorted list (None: every field), checked like filter fields."""
    if fields is None:
        return None
    if isinstance(fields, (str, bytes)) or not isinstance(fields, (list, tuple, set, frozenset)):
        raise FilterError(f"indexed_fields must be a list of field names, got {type(fields).__name__}")
    for field in fields:
        if not isinstance(field, str) or not field or "\x00" in field or '"' in field:
            raise FilterError(f"indexed_fields: field name {field!r} is not allowed (non-empty, without '\"')")
    return sorted(set(fields))


def parse_filter(filter: dict | None, indexed: frozenset[str] | None = None) -> Node:
    """A filter checked and compiled to a tree of lookups; None or {} is ALL. `indexed`: the fields in the metadata
    index (None: every field); conditions on other fields scan the documents' JSON (`meta_all`)."""
    if filter is None:
        return ALL
    node = _compile(filter, 0, indexed)
    depth = _tree_depth(node)
    if depth > MAX_COMPILED_DEPTH:
        raise _invalid(
            f"nested too deeply: {depth} levels of $and/$or/negation once compiled (same-operator levels merge); "
            f"the limit is {MAX_COMPILED_DEPTH}",
            filter,
        )
    return node


def to_sql(node: Node) -> tuple[str, list]:
    """(one SQL query selecting the labels of `node` as column `doc`, its parameters)."""
    params: list = []
    return _sql(node, params), params


def _sql(node: Node, params: list) -> str:
    if node.op == "lookup":
        params.extend(node.params)
        return node.sql
    if node.op in ("all", "none"):
        return EVERY_LABEL if node.op == "all" else f"{EVERY_LABEL} WHERE 0"
    if node.op == "not":
        return f"{EVERY_LABEL} WHERE seq NOT IN ({_sql(node.parts[0], params)})"
    return _compound([_sql(part, params) for part in node.parts], "INTERSECT" if node.op == "and" else "UNION")


def _compound(parts: list[str], operator: str) -> str:
    if len(parts) > MAX_COMPOUND:  # nest, so no compound SELECT exceeds SQLite's limit
        parts = [_compound(parts[i : i + MAX_COMPOUND], operator) for i in range(0, len(parts), MAX_COMPOUND)]
    return f" {operator} ".join(f"SELECT doc FROM ({p})" for p in parts)


def compile_filter(filter: dict | None) -> tuple[str, list]:
    """(SQL query selecting the matching labels as column `doc`, parameters); None or {} selects every label."""
    return to_sql(parse_filter(filter))
