"""`Encoder`: texts in, numpy vectors out, with prompts, Matryoshka truncation and output precisions."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from simvec.encoders.artifacts import MANIFEST, file_sha256
from simvec.encoders.auto import choose_backend
from simvec.encoders.backends import BACKENDS, CONCRETE_BACKENDS, load_backend
from simvec.encoders.base import EncodeStats
from simvec.encoders.cache import EmbeddingCache, open_cache
from simvec.encoders.models import ModelCard, resolve_model
from simvec.encoders.pooling import pool
from simvec.errors import InputError, InputTypeError, ModelError, check_unicode
from simvec.vectors.quantize import check_precision, quantize
from simvec.vectors.reduce import check_truncate_dim, truncate
from simvec.vectors.similarity import l2_normalize

# Pins what `backend="auto"` means in every process that sees it (a job, a cluster, a test run): a concrete backend.
BACKEND_ENV = "SIMVEC_BACKEND"
# The fp32 graph of each int8 backend's model, for the few texts every other text is compared with (label names)
FP32_PARTNERS = {"onnx-int8": "onnx", "openvino-int8": "onnx"}
MAX_TEXT_CHARS = 1_000_000  # longer texts are refused: the model would read only its first tokens anyway
MAX_BATCH_SIZE = 4096
PROGRESS_THRESHOLD = 1000  # show a progress bar by default above this many texts, in a terminal


def as_text_list(texts: str | Iterable[str]) -> tuple[list[str], bool]:
    """Validate texts: a string (single=True) or an iterable of strings; errors name the bad item."""
    if isinstance(texts, str):
        texts, single = [texts], True
    elif isinstance(texts, (bytes, bytearray)):
        raise InputTypeError("texts must be a str or a sequence of str, got bytes; decode it first")
    elif isinstance(texts, Iterable):
        texts, single = list(texts), False
    else:
        raise InputTypeError(f"texts must be a str or a sequence of str, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"texts[{i}] has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
        check_unicode(text, f"texts[{i}]")
    return texts, single


class Encoder:
    """Embeds text with a sentence-transformers-format model (default: the bundled all-MiniLM-L6-v2).

    `backend`: "auto" (default: the backend a rule on this CPU's features picks, checked against torch; the same
    in every process on this machine, see simvec.encoders.auto; $SIMVEC_BACKEND, when set, names it instead),
    "torch" (the reference), "onnx", "onnx-int8", "openvino-int8", or "static" (a distilled static model: much
    faster, a different vector space, never chosen by auto). `cache`: None (off), True (the default file under the
    simvec cache dir), a path, or an `EmbeddingCache`, to skip the model for texts embedded before.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "cpu",
        backend: str = "auto",
        cache: bool | str | Path | EmbeddingCache | None = None,
    ) -> None:
        self.card: ModelCard = resolve_model(model)
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
        # The decision of `auto` (what it measured and why it chose), None for a backend named explicitly.
        self.backend_choice: dict | None = None
        pinned = os.environ.get(BACKEND_ENV, "").strip()
        if backend == "auto" and pinned:
            if pinned not in CONCRETE_BACKENDS:
                raise InputError(f"${BACKEND_ENV}={pinned!r} is not a backend; valid: {', '.join(CONCRETE_BACKENDS)}")
            self.backend = load_backend(self.card, pinned, device)
            self.backend_choice = {"chosen": pinned, "rule": "pinned", "reason": f"pinned by ${BACKEND_ENV}={pinned}"}
        elif backend == "auto" and device == "cpu":
            self.backend, self.backend_choice = choose_backend(self.card)
        else:  # auto on an accelerator means torch (ONNX here is CPU-only)
            self.backend = load_backend(self.card, "torch" if backend == "auto" else backend, device)
        self.cache: EmbeddingCache | None = open_cache(cache)
        self._namespace: str | None = None
        self._fp32_partner: Encoder | None = None
        self.last_stats: EncodeStats | None = None

    @property
    def model_id(self) -> str:
        return self.card.model_id

    @property
    def dimension(self) -> int:
        return self.backend.dimension

    @property
    def max_seq_length(self) -> int:
        return self.card.max_seq_length

    def __repr__(self) -> str:
        return f"Encoder(model={self.model_id!r}, dimension={self.dimension}, backend={self.backend.name!r})"

    def for_few_texts(self) -> Encoder:
        """This model in fp32 (itself when already fp32), for the handful of texts every other text is scored against.

        Label names and templates are few, so fp32 costs nothing there, while int8's error in them shifts every
        score: on Banking77 zero-shot (fp32 throughout: 62.24) fp32 labels took openvino-int8 from 61.88 to 62.56 and
        onnx-int8 from 62.14 to 62.27 (BENCHMARKS.md). Loaded on first use; `static` is its own space: itself.
        """
        backend = FP32_PARTNERS.get(self.backend.name)
        if backend is None:
            return self
        if self._fp32_partner is None or self._fp32_partner.card != self.card:
            partner = Encoder(self.card.path, backend=backend, cache=self.cache)
            partner.card = self.card  # the same model files; a card given other prompts applies to both
            self._fp32_partner = partner
        return self._fp32_partner

    @property
    def artifact_dir(self) -> Path | None:
        """The cached graph (or static model) this encoder runs; None when it runs the model's own files (torch)."""
        model_dir = getattr(self.backend, "model_dir", None)
        return Path(model_dir) if model_dir is not None else None

    @property
    def provenance(self) -> dict[str, str | None]:
        """Which runtime made this encoder's vectors: backend name, its fingerprint and its artefact's digest.

        Two encoders with equal provenance give the same vectors for the same text; a collection or an embedding
        job records it so later texts are embedded in the same vector space. `artifact` is the sha256 of the
        built graph's manifest (every file's sha256), None for a backend that runs the model's own files (torch).
        """
        manifest = self.artifact_dir / MANIFEST if self.artifact_dir is not None else None
        return {
            "backend": self.backend.name,
            "fingerprint": self.backend.fingerprint,
            "artifact": file_sha256(manifest) if manifest is not None and manifest.is_file() else None,
        }

    def info(self) -> dict[str, object]:
        """Model, dimension, max length, pooling, prompts and backend as a JSON-ready dict."""
        details = {**self.card.describe(), "dimension": self.dimension, "backend": self.backend.name}
        if self.backend_choice is not None:
            details["backend_rule"] = self.backend_choice.get("rule")
            details["backend_reason"] = self.backend_choice["reason"]
        if self.cache is not None:
            details["cache"] = str(self.cache.path)
        return details

    def count_tokens(self, texts: str | Iterable[str]) -> list[int]:
        """Tokens each text uses after truncation (special tokens included)."""
        return self.backend.count_tokens(as_text_list(texts)[0])

    def encode(
        self,
        texts: str | Iterable[str],
        *,
        prompt: str | None = None,
        prompt_name: str | None = None,
        normalize: bool = True,
        truncate_dim: int | None = None,
        precision: str = "float32",
        calibration_embeddings: np.ndarray | None = None,
        batch_size: int = 64,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Embed texts: (n, dim) array, or (dim,) for a single string.

        `prompt` is prefixed to every text (`prompt_name` picks one of the model card's prompts).
        `normalize=True` returns unit vectors (re-normalised after `truncate_dim`); False returns the
        model's own output. `precision` is float32, float16, int8, uint8, binary or ubinary; int8
        ranges come from `calibration_embeddings` when given, else from this batch.
        """
        items, single = as_text_list(texts)
        check_precision(precision)
        truncate_dim = check_truncate_dim(truncate_dim, self.dimension)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise InputError(f"batch_size must be an int in 1..{MAX_BATCH_SIZE}, got {batch_size!r}")
        prefix = self._prompt(prompt, prompt_name)
        if prefix:
            items = [prefix + text for text in items]

        vectors, stats = self._embed(items, batch_size, show_progress)
        self.last_stats = stats
        if stats.truncated:
            warnings.warn(
                f"{stats.truncated} of {stats.texts} texts were longer than the model's "
                f"{self.max_seq_length} tokens and were truncated",
                stacklevel=2,
            )
        if self.card.normalize or normalize:
            vectors = l2_normalize(vectors)
        if truncate_dim is not None:
            vectors = truncate(vectors, truncate_dim, renormalize=normalize)
        vectors = quantize(vectors, precision, calibration=calibration_embeddings)
        return vectors[0] if single else vectors

    def encode_queries(self, texts: str | Iterable[str], **options) -> np.ndarray:
        """`encode` with the model card's "query" prompt, when it defines one."""
        return self.encode(texts, prompt_name="query" if "query" in self.card.prompts else None, **options)

    def encode_documents(self, texts: str | Iterable[str], **options) -> np.ndarray:
        """`encode` with the model card's "document" (or "passage") prompt, when it defines one."""
        return self.encode(texts, prompt_name=self._document_prompt_name, **options)

    @property
    def _document_prompt_name(self) -> str | None:
        """The model card's prompt for documents ("document", "passage" or "corpus"), if it has one."""
        return next((n for n in ("document", "passage", "corpus") if n in self.card.prompts), None)

    def encode_tokens(
        self,
        texts: str | Iterable[str],
        *,
        prompt: str | None = None,
        prompt_name: str | None = None,
        special_tokens: bool = False,
        normalize: bool = True,
        batch_size: int = 32,
    ) -> list[np.ndarray]:
        """Token-level vectors: one (n_tokens, dim) float32 array per text, from the model's last hidden state.

        Padding is masked out; `special_tokens=False` (default) drops [CLS]/[SEP]; `normalize` makes each token
        vector unit length (as late interaction scores them). Prompts work as in `encode` (see `encode_query_tokens`
        and `encode_document_tokens`). Texts are truncated at the model's maximum sequence length (counted in
        `last_stats`). A text with no tokens besides the special ones (an empty string) is an InputError. Needs a
        transformer backend (torch, onnx, onnx-int8); the static backend has no token states.
        """
        items, _ = as_text_list(texts)
        out = []
        for state, special in zip(
            *self._token_states(items, self._prompt(prompt, prompt_name), batch_size), strict=True
        ):
            vectors = state if special_tokens else state[~special]
            out.append(l2_normalize(vectors) if normalize else vectors)
        return out

    def encode_documents_with_tokens(
        self, texts: str | Iterable[str], *, batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One pass of the model for both: the unit document vectors (as `encode_documents`) and the unit token
        vectors without special tokens (as `encode_document_tokens`)."""
        items, _ = as_text_list(texts)
        states, specials = self._token_states(items, self._prompt(None, self._document_prompt_name), batch_size)
        # the states of one text with a full mask pool exactly as the backend's batched `embed` does
        pooled = [pool(state[None], np.ones((1, len(state)), dtype=np.int64), self.card.pooling)[0] for state in states]
        vectors = l2_normalize(np.stack(pooled)) if pooled else np.empty((0, self.dimension), dtype=np.float32)
        return vectors, [l2_normalize(s[~m]) for s, m in zip(states, specials, strict=True)]

    def _token_states(
        self, items: list[str], prefix: str, batch_size: int
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        embed_tokens = getattr(self.backend, "embed_tokens", None)
        if embed_tokens is None:
            raise ModelError(f"backend {self.backend.name!r} has no token states; use backend='torch' or 'onnx'")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise InputError(f"batch_size must be an int in 1..{MAX_BATCH_SIZE}, got {batch_size!r}")
        states, specials, stats = (
            embed_tokens([prefix + text for text in items], batch_size) if items else ([], [], EncodeStats())
        )
        self.last_stats = stats
        if stats.truncated:
            warnings.warn(
                f"{stats.truncated} of {stats.texts} texts were longer than the model's {self.max_seq_length} tokens "
                "and were truncated (chunk them: simvec.encoders.chunking)",
                stacklevel=3,
            )
        for i, special in enumerate(specials):
            if special.all():
                raise InputError(f"texts[{i}] has no tokens (only the model's special tokens): {items[i]!r:.40}")
        return states, specials

    def encode_query_tokens(self, texts: str | Iterable[str], **options) -> list[np.ndarray]:
        """`encode_tokens` with the model card's "query" prompt, when it defines one."""
        return self.encode_tokens(texts, prompt_name="query" if "query" in self.card.prompts else None, **options)

    def encode_document_tokens(self, texts: str | Iterable[str], **options) -> list[np.ndarray]:
        """`encode_tokens` with the model card's "document" (or "passage") prompt, when it defines one."""
        return self.encode_tokens(texts, prompt_name=self._document_prompt_name, **options)

    def _prompt(self, prompt: str | None, prompt_name: str | None) -> str:
        if prompt is not None and prompt_name is not None:
            raise InputError("give either prompt or prompt_name, not both")
        if prompt is not None:
            return prompt
        name = prompt_name or self.card.default_prompt_name
        if name is None:
            return ""
        if name not in self.card.prompts:
            known = ", ".join(self.card.prompts) or "none"
            raise InputError(f"model {self.model_id} has no prompt named {name!r} (its prompts: {known})")
        return self.card.prompts[name]

    def _embed(self, items: list[str], batch_size: int, show_progress: bool | None) -> tuple[np.ndarray, EncodeStats]:
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32), EncodeStats()
        if self.cache is None:
            return self._run_backend(items, batch_size, show_progress)
        namespace = self._cache_namespace()
        found = self.cache.get(namespace, items, self.dimension)
        # each distinct uncached text runs through the model once, however often it repeats
        missing = list(dict.fromkeys(t for i, t in enumerate(items) if i not in found))
        vectors = np.empty((len(items), self.dimension), dtype=np.float32)
        truncated = np.zeros(len(items), dtype=bool)
        stats = EncodeStats(texts=len(items))
        if missing:
            fresh, stats = self._run_backend(missing, batch_size, show_progress)
            fresh_truncated = np.zeros(len(missing), dtype=bool)
            fresh_truncated[stats.truncated_rows] = True
            self.cache.put(namespace, missing, fresh, fresh_truncated)
            row = {t: j for j, t in enumerate(missing)}
            todo = [i for i in range(len(items)) if i not in found]
            vectors[todo] = fresh[[row[items[i]] for i in todo]]
            truncated[todo] = fresh_truncated[[row[items[i]] for i in todo]]
        for i, (vector, was_truncated) in found.items():
            vectors[i], truncated[i] = vector, was_truncated
        stats.texts, stats.cache_hits = len(items), len(found)
        stats.token_counts = None  # counted for the uncached texts only: not per input text
        stats.truncated_rows = np.flatnonzero(truncated).tolist()
        return vectors, stats

    def _cache_namespace(self) -> str:
        """model content hash + backend fingerprint: what the cached float32 output depends on."""
        if self._namespace is None:
            from simvec.encoders.artifacts import model_hash

            self._namespace = f"{model_hash(self.card.path)[:24]}/{self.backend.fingerprint}"
            self.cache.register(self._namespace, self.model_id, self.backend.fingerprint, self.dimension)
        return self._namespace

    def _run_backend(
        self, items: list[str], batch_size: int, show_progress: bool | None
    ) -> tuple[np.ndarray, EncodeStats]:
        if show_progress is None:
            show_progress = len(items) > PROGRESS_THRESHOLD and sys.stderr.isatty()
        if not show_progress:
            return self.backend.embed(items, batch_size)
        from tqdm.auto import tqdm

        with tqdm(total=len(items), desc="Embedding", unit="text") as bar:
            return self.backend.embed(items, batch_size, on_batch=bar.update)
