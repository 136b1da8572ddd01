"""Which backend embeds the texts of something that recorded an `Encoder.provenance` (a collection, a job).

The int8 runtimes give vectors within ~1% cosine of torch, not equal to it: each backend is its own slightly different
vector space. So a collection records the provenance of the encoder that first embedded its documents
({"backend", "fingerprint", "artifact"}), and later documents and queries are embedded with that backend whenever it
can be built here. When it cannot (its runtime is not installed, its graph does not load), the `auto` choice is used
and a warning names both, once per process and collection: a warning, not a failure, since the vectors stay close.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

from simvec.encoders.encoder import Encoder
from simvec.encoders.shared import shared_encoder
from simvec.errors import SimvecError

PROVENANCE_KEYS = ("backend", "fingerprint", "artifact")
# What building a backend raises when it cannot run here: a runtime that does not import, a graph ORT or OpenVINO
# refuses (their errors are RuntimeErrors), missing or unreadable files, or simvec's own refusal (unknown backend).
LOAD_FAILURES = (ImportError, OSError, RuntimeError, SimvecError)

Loader = Callable[[str, str], Encoder]  # (model id, backend) -> Encoder

_warned: set[tuple[str, str, str]] = set()  # (whose, recorded, actual): each pair is named once per process
_warned_lock = threading.Lock()


def parse_provenance(value: object) -> dict[str, str | None] | None:
    """A recorded provenance as {"backend", "fingerprint", "artifact"}, or None when none (or no valid one) is recorded."""
    if not isinstance(value, dict) or not isinstance(value.get("backend"), str) or not value["backend"]:
        return None
    return {key: None if value.get(key) is None else str(value[key]) for key in PROVENANCE_KEYS}


def describe(provenance: dict[str, str | None]) -> str:
    """One provenance in a message: backend, fingerprint and the start of the artefact digest."""
    artifact = provenance.get("artifact")
    details = [str(provenance.get("fingerprint"))] + ([f"artifact {artifact[:12]}"] if artifact else [])
    return f"{provenance.get('backend')} ({', '.join(details)})"


def differences(recorded: dict[str, str | None], actual: dict[str, str | None]) -> list[str]:
    """The provenance keys on which two provenances differ (none: the same vectors for the same text)."""
    return [key for key in PROVENANCE_KEYS if recorded.get(key) != actual.get(key)]


def mismatch(recorded: dict[str, str | None] | None, actual: dict[str, str | None], owner: str) -> str | None:
    """The warning for texts of `owner` embedded by `actual` when `recorded` made its vectors, or None if they agree."""
    if recorded is None or not differences(recorded, actual):
        return None
    return (
        f"{owner} was embedded with backend {describe(recorded)}, but its texts are now embedded with "
        f"{describe(actual)}: their vectors differ slightly (cosine ~0.99), so search quality may drop a little"
    )


def warn_once(key: str, recorded: dict, actual: dict, message: str) -> None:
    """`warnings.warn(message)` the first time this process sees `key` embedded by `actual` instead of `recorded`."""
    seen = (key, describe(recorded), describe(actual))
    with _warned_lock:
        if seen in _warned:
            return
        _warned.add(seen)
    warnings.warn(message, UserWarning, stacklevel=4)


def check_encoder(encoder: Encoder, recorded: dict | None, owner: str, key: str | None = None) -> None:
    """Warn once when `encoder` embeds in another space than the recorded provenance of `owner`, naming both."""
    wanted, actual = parse_provenance(recorded), encoder.provenance
    message = mismatch(wanted, actual, owner)
    if message is not None:
        warn_once(key or owner, wanted, actual, message)


def encoder_for(
    model_id: str, recorded: dict | None, owner: str, *, key: str | None = None, load: Loader = shared_encoder
) -> Encoder:
    """The encoder on the recorded backend of `owner`; the `auto` choice, with one warning, when it cannot be built."""
    wanted = parse_provenance(recorded)
    if wanted is None:
        return load(model_id, "auto")
    try:
        encoder = load(model_id, str(wanted["backend"]))
    except LOAD_FAILURES as exc:
        encoder = load(model_id, "auto")
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        warn_once(
            key or owner,
            wanted,
            encoder.provenance,
            f"{owner} was embedded with backend {wanted['backend']!r}, which cannot be built here ({reason}); "
            f"using {encoder.backend.name!r} (auto's choice) instead: its vectors differ slightly (cosine ~0.99) "
            "from the stored ones",
        )
        return encoder
    check_encoder(encoder, wanted, owner, key)  # the same backend name, but another recipe or artefact
    return encoder
