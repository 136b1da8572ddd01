"""simvec's filter language (see `simvec.store.filters`) compiled to a Milvus boolean expression over the JSON field
`meta`, as a template with its values apart: `meta["year"] > {p0}` with `{"p0": 2020}`.

Values never become expression text on a Milvus server: the template goes as `filter`, the values as
`filter_params` (Milvus' expression templates). Milvus Lite 3.2 has no templates (it rejects `{p0}`), so for
Lite `render` writes each value as a literal that Lite's lexer reads back exactly (a quoted string with its
escapes, a number in positional notation); a field name is a quoted key of the JSON path in both cases.

The semantics follow the native store (measured on Milvus Lite, asserted in tests/test_milvus.py): comparisons
are type-strict (2020 never equals "2020"), True/False compare as 1/0, a missing field equals None. Milvus has
three-valued logic (a comparison with a missing key is null, and `not null` is null), so `$ne` and `$nin`
add `meta[f] is null or ...` to match documents without the field, as the native store does.

Servers older than Milvus 2.5 (`legacy=True`, measured on Milvus 2.3.5) have no `is null`: `not (exists meta[f])`
tests for a missing field there (`MilvusStore` leaves JSON nulls out of the filtered copy of the metadata, so a
null still equals None). They also keep JSON booleans apart from numbers, so an equality with True/False or 1/0
tests both spellings, as 1 == true in the native store. A field name
Milvus cannot address exactly (a backslash, '/', '~', a brace or a control character) is refused with a FilterError
saying so, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simvec.errors import FilterError
from simvec.store.filters import COMPARISONS, parse_filter

_UNSAFE_FIELD = set("\\/~{}") | {chr(c) for c in range(32)}  # braces: template placeholders are {name}
_PLACEHOLDER = re.compile(r"\{(p\d+)\}")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass
class Expression:
    """A Milvus filter template, its parameters, and whether it can match anything at all."""

    template: str = ""  # "" matches every document
    params: dict[str, Any] = field(default_factory=dict)
    empty: bool = False  # matches no document (an empty $in): no query is sent

    def render(self) -> str:
        """The expression with each parameter written as a literal (for Milvus Lite, which has no templates)."""
        # One pass: a value that looks like a placeholder is written as text, never substituted again.
        return _PLACEHOLDER.sub(lambda found: literal(self.params[found[1]]), self.template)


def literal(value: Any) -> str:
    """A scalar as a Milvus expression literal that the lexer reads back to exactly this value."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return np.format_float_positional(value, unique=True, trim="0")  # no exponent: Lite's lexer has none
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    raise RuntimeError(f"bug: filter value {value!r} reached the Milvus compiler unchecked")


class _Compiler:
    def __init__(self, legacy: bool) -> None:
        self.params: dict[str, Any] = {}
        self.legacy = legacy

    def missing(self, path: str, negate: bool = False) -> str:
        """The dialect's test that a field is missing (or, negated, present)."""
        if self.legacy:
            return f"exists {path}" if negate else f"not (exists {path})"
        return f"{path} is not null" if negate else f"{path} is null"

    def equal(self, path: str, value: Any) -> str:
        text = f"{path} == {self.param(value)}"
        if self.legacy and type(value) in (bool, int, float) and value in (0, 1):
            return f"({text} or {path} == {'true' if value else 'false'})"
        return text

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = int(value) if isinstance(value, bool) else value  # True/False compare as 1/0
        return "{" + name + "}"

    def node(self, node: dict) -> str | bool:
        parts = []
        for key, value in node.items():
            if key in ("$and", "$or"):
                parts.append(self.combine([self.node(sub) for sub in value], key[1:]))
            elif isinstance(value, dict):
                parts.append(self.combine([self.operator(key, op, v) for op, v in value.items()], "and"))
            else:
                parts.append(self.operator(key, "$eq", value))
        return self.combine(parts, "and") if parts else True

    @staticmethod
    def combine(parts: list[str | bool], op: str) -> str | bool:
        # True/False stand for "every document"/"no document"; folded here so Milvus never sees a constant.
        absorbing, neutral = (False, True) if op == "and" else (True, False)
        if any(part is absorbing for part in parts):
            return absorbing
        kept = [part for part in parts if part is not neutral]
        if not kept:
            return neutral
        return kept[0] if len(kept) == 1 else "(" + f" {op} ".join(f"({part})" for part in kept) + ")"

    def operator(self, name: str, op: str, value: Any) -> str | bool:
        bad = sorted(_UNSAFE_FIELD & set(name))
        if bad:
            raise FilterError(
                f"the milvus backend cannot filter on field {name!r}: Milvus JSON paths cannot address a key "
                f"containing {', '.join(repr(ch) for ch in bad)}"
            )
        path = f"meta[{literal(name)}]"
        if op in ("$eq", "$ne"):
            if value is None:
                return self.missing(path, negate=op == "$ne")
            equal = self.equal(path, value)
            return equal if op == "$eq" else f"{self.missing(path)} or not ({equal})"
        if op in COMPARISONS:
            return f"{path} {COMPARISONS[op]} {self.param(value)}"
        if not value:  # an empty list: $in matches nothing, $nin everything
            return op == "$nin"
        # One equality per value: Milvus Lite refuses `in` on a JSON path.
        anyof = " or ".join(self.equal(path, v) for v in value)
        return anyof if op == "$in" else f"{self.missing(path)} or not ({anyof})"


def compile_milvus(filter: dict | None, legacy: bool = False) -> Expression:
    """The Milvus expression for a simvec filter; the filter is first checked exactly as the native store checks it.

    `legacy`: for a server older than Milvus 2.5 (see the module docstring).
    """
    parse_filter(filter)  # the same FilterErrors, with the same messages, as the native store
    if not filter:
        return Expression()
    compiler = _Compiler(legacy)
    compiled = compiler.node(filter)
    if compiled is True:
        return Expression()
    if compiled is False:
        return Expression(empty=True)
    return Expression(compiled, compiler.params)
