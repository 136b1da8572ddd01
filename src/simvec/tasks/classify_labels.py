"""Label sets for classification: validation, names turned into text, descriptions and prompt templates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from simvec.errors import InputError, InputTypeError

LabelSpec = Sequence[str] | Mapping[str, str | Sequence[str] | None]


def humanize(name: str) -> str:
    """A label name as text: `card_arrival` -> "card arrival", `lostCard` -> "lost Card"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[\s_\-]+", " ", spaced).strip()


def check_label(label: object, where: str) -> str:
    """A label must be a non-empty string; the error names where it came from."""
    if not isinstance(label, str):
        raise InputTypeError(f"{where} is {type(label).__name__}, expected a str label")
    if not label.strip():
        raise InputError(f"{where} is an empty label")
    return label


def check_label_set(labels: Sequence[str], what: str = "labels") -> list[str]:
    """At least two distinct, non-empty labels; names the duplicate or empty one."""
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        check_label(label, f"{what}[{i}]")
        if label in seen:
            raise InputError(f"{what}[{i}] {label!r} duplicates {what}[{seen[label]}]")
        seen[label] = i
    if len(seen) < 2:
        raise InputError(f"{what} must name at least 2 labels, got {len(seen)}")
    return list(seen)


def check_templates(template: str | Sequence[str]) -> list[str]:
    """One template or several; each has one `{}` where the label text goes."""
    templates = [template] if isinstance(template, str) else list(template)
    if not templates:
        raise InputError("template must be a string or a non-empty list of strings")
    for i, item in enumerate(templates):
        if not isinstance(item, str):
            raise InputTypeError(f"template[{i}] is {type(item).__name__}, expected str")
        if item.count("{}") != 1:
            raise InputError(f"template {item!r} must contain '{{}}' exactly once (where the label text goes)")
    return templates


def label_descriptions(
    labels: LabelSpec, descriptions: Mapping[str, str | Sequence[str]] | None = None
) -> dict[str, list[str]]:
    """{label: [texts describing it]} from names (humanised) or a {label: description(s)} mapping."""
    if isinstance(labels, (str, bytes)):
        raise InputTypeError("labels must be a list of names or a {label: description} mapping, not a single string")
    if isinstance(labels, Mapping):
        names, given = list(labels), dict(labels)
    else:
        names, given = list(labels), {}
    check_label_set(names)
    for key, value in (descriptions or {}).items():
        if key not in names:
            raise InputError(f"descriptions has label {key!r}, which is not one of the labels")
        given[key] = value
    result: dict[str, list[str]] = {}
    for name in names:
        value = given.get(name)
        if value is None:
            texts = [humanize(name)]
        elif isinstance(value, str):
            texts = [value]
        elif isinstance(value, Sequence):
            texts = list(value)
        else:
            raise InputTypeError(f"the description of label {name!r} is {type(value).__name__}; give a str or a list")
        if not texts:
            raise InputError(f"label {name!r} has an empty list of descriptions")
        for j, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"description {j} of label {name!r} must be a non-empty string, got {text!r}")
        result[name] = texts
    return result


def label_texts(descriptions: Mapping[str, Sequence[str]], templates: Sequence[str]) -> tuple[list[str], list[int]]:
    """Every (template x description) text to embed, and the index of the label each belongs to."""
    texts, owners = [], []
    for index, items in enumerate(descriptions.values()):
        for item in items:
            for template in templates:
                texts.append(template.replace("{}", item))
                owners.append(index)
    return texts, owners
