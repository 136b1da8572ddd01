"""Fine-tune a sentence-transformers model on (query, relevant document) pairs, optionally with Matryoshka loss.

The training itself is sentence-transformers' own trainer: MultipleNegativesRankingLoss (in-batch negatives),
wrapped in MatryoshkaLoss when `matryoshka_dims` is given so vectors truncated to those dimensions keep working.
The result is a new sentence-transformers directory that `simvec.Encoder(model=DIR)` loads. It is built in a
temporary directory beside the target and renamed into place only when complete, so an interrupted run never leaves
a half-written model that looks finished.

Fine-tuning needs the optional extra `simvec[finetune]` (sentence-transformers, datasets, accelerate): embedding and
search do not, and those packages are large, so they are not runtime dependencies.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simvec.encoders.models import resolve_model
from simvec.errors import InputError, MissingDependencyError

MIN_PAIRS = 32  # below this, a fine-tuning run is noise; the adapter uses the same floor
METADATA_FILE = "simvec_finetune.json"  # what the model was trained on, written inside the model directory
DEFAULT_MATRYOSHKA_DIMS = (384, 256, 128, 64)


@dataclass
class FinetuneResult:
    """Where the model was written and what the run did."""

    model_dir: str
    base_model: str
    pairs: int
    epochs: float
    steps: int
    batch_size: int
    learning_rate: float
    matryoshka_dims: list[int] | None
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: comparable across machine loads
    final_loss: float | None
    train_query_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _trainer_modules() -> tuple:
    """sentence-transformers' trainer pieces, or a MissingDependencyError naming the extra."""
    missing = []
    for name in ("sentence_transformers", "datasets", "accelerate"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name.replace("_", "-"))
    if missing:
        raise MissingDependencyError(
            f"fine-tuning needs {', '.join(missing)}; install them with: pip install 'simvec[finetune]'"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
            losses,
        )
        from sentence_transformers.training_args import BatchSamplers
    return (
        Dataset,
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
        (BatchSamplers),
    )


def check_pairs(pairs: Sequence[tuple[str, str]], minimum: int = MIN_PAIRS) -> list[tuple[str, str]]:
    """Pairs as a list of (query, document) strings; at least `minimum` of them."""
    checked = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise InputError(f"pairs[{i}] must be a (query, document) pair of str, got {pair!r:.100}")
        checked.append((pair[0], pair[1]))
    if len(checked) < minimum:
        raise InputError(f"too few training pairs: {len(checked)}; at least {minimum} (query, document) pairs needed")
    return checked


def _fresh_tmp(output: Path) -> Path:
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def finetune(
    pairs: Sequence[tuple[str, str]],
    output_dir: str | Path,
    *,
    base_model: str | Path | None = None,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.1,
    matryoshka_dims: Sequence[int] | None = DEFAULT_MATRYOSHKA_DIMS,
    max_steps: int | None = None,
    max_seq_length: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    train_query_ids: Sequence[str] = (),
    show_progress: bool = False,
    on_log: Callable[[dict], None] | None = None,
) -> FinetuneResult:
    """Fine-tune `base_model` (default: the bundled model) on (query, document) pairs into `output_dir`.

    MultipleNegativesRankingLoss over batches without duplicate texts, in MatryoshkaLoss over `matryoshka_dims`
    (None: plain MNRL). `max_steps` caps the run (for tests). `train_query_ids` are recorded in the model directory
    so an evaluation can refuse to test on queries the model was trained on.
    """
    pairs = check_pairs(pairs)
    output = Path(output_dir)
    if output.exists() and not overwrite:
        raise InputError(f"{output} exists already; choose another output directory or pass overwrite=True")
    if batch_size < 2:
        raise InputError(f"batch_size must be at least 2 (in-batch negatives), got {batch_size}")
    if epochs <= 0 and not max_steps:
        raise InputError(f"epochs must be positive, got {epochs}")
    card = resolve_model(base_model)
    dims = sorted({int(d) for d in matryoshka_dims}, reverse=True) if matryoshka_dims else None
    if dims and (dims[0] > card.dimension or dims[-1] < 1):
        raise InputError(f"matryoshka_dims must lie in 1..{card.dimension} (the model's dimension), got {dims}")
    if dims and dims[0] != card.dimension:
        dims = [card.dimension, *dims]
    Dataset, SentenceTransformer, Trainer, TrainingArguments, losses, BatchSamplers = _trainer_modules()

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    tmp = _fresh_tmp(output)
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        model = SentenceTransformer(str(card.path), device="cpu")
        saved_max_length = model.max_seq_length
        if max_seq_length:  # shorter texts while training only: the saved model keeps the base model's length
            model.max_seq_length = int(max_seq_length)
        loss = losses.MultipleNegativesRankingLoss(model)
        if dims:
            loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
        dataset = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [d for _, d in pairs]})
        args = TrainingArguments(
            output_dir=str(tmp / "checkpoints"),
            num_train_epochs=float(epochs),
            max_steps=int(max_steps) if max_steps else -1,
            per_device_train_batch_size=int(batch_size),
            learning_rate=float(learning_rate),
            warmup_ratio=float(warmup_ratio),
            batch_sampler=BatchSamplers.NO_DUPLICATES,  # a duplicate text in a batch would be a false negative
            save_strategy="no",
            logging_steps=5,
            report_to="none",
            use_cpu=True,
            seed=seed,
            dataloader_num_workers=0,
            disable_tqdm=not show_progress,
        )
        callbacks = [_log_callback(on_log)] if on_log else None
        trainer = Trainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks)
        output_state = trainer.train()
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
        model.max_seq_length = saved_max_length
        model.save(str(tmp / "model"))
        result = FinetuneResult(
            model_dir=str(output),
            base_model=card.model_id,
            pairs=len(pairs),
            epochs=float(epochs),
            steps=int(output_state.global_step),
            batch_size=int(batch_size),
            learning_rate=float(learning_rate),
            matryoshka_dims=dims,
            seconds=round(time.perf_counter() - started, 1),
            cpu_seconds=round(time.process_time() - cpu_started, 1),
            final_loss=float(output_state.training_loss) if output_state.training_loss is not None else None,
            train_query_ids=list(train_query_ids),
        )
        classic_layout(tmp / "model", saved_max_length, card.do_lower_case)
        (tmp / "model" / METADATA_FILE).write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
        _replace_dir(tmp / "model", output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


_CLASSIC_TYPES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Normalize": "sentence_transformers.models.Normalize",
}


def classic_layout(model_dir: Path, max_seq_length: int, do_lower_case: bool) -> None:
    """Rewrite a saved model in the classic sentence-transformers layout (module names, configs).

    sentence-transformers 6 saves its modules under new class paths, keeps the maximum length only in the tokenizer
    config and names the pooling width `embedding_dimension`; the classic layout is what simvec's model reader and
    every sentence-transformers version (6 included) load.
    """
    modules_path = model_dir / "modules.json"
    modules = json.loads(modules_path.read_text(encoding="utf-8"))
    for module in modules:
        short = str(module["type"]).rsplit(".", 1)[-1]
        if short not in _CLASSIC_TYPES:
            raise RuntimeError(f"bug: fine-tuned model has an unexpected module {module['type']!r}")
        module["type"] = _CLASSIC_TYPES[short]
        if short == "Pooling":
            pooling_path = model_dir / module["path"] / "config.json"
            pooling = json.loads(pooling_path.read_text(encoding="utf-8"))
            mode = pooling.get("pooling_mode") or next(
                (
                    m
                    for m in ("cls", "mean", "max")
                    if pooling.get(f"pooling_mode_{m}_token{'s' if m != 'cls' else ''}")
                ),
                "mean",
            )
            dimension = pooling.get("word_embedding_dimension") or pooling["embedding_dimension"]
            classic = {
                "word_embedding_dimension": int(dimension),
                "pooling_mode_cls_token": mode == "cls",
                "pooling_mode_mean_tokens": mode == "mean",
                "pooling_mode_max_tokens": mode == "max",
                "pooling_mode_mean_sqrt_len_tokens": mode == "mean_sqrt_len",
            }
            pooling_path.write_text(json.dumps(classic, indent=2), encoding="utf-8")
    modules_path.write_text(json.dumps(modules, indent=2), encoding="utf-8")
    bert_config = {"max_seq_length": int(max_seq_length), "do_lower_case": bool(do_lower_case)}
    (model_dir / "sentence_bert_config.json").write_text(json.dumps(bert_config, indent=2), encoding="utf-8")


def _replace_dir(source: Path, target: Path) -> None:
    """Move a finished directory to `target` by renames, so `target` is never half-written."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


def finetune_metadata(model_dir: str | Path) -> dict | None:
    """What `finetune` recorded in a model directory (None for a model it did not write)."""
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _log_callback(on_log: Callable[[dict], None]) -> object:
    """A TrainerCallback forwarding the trainer's log lines (loss, learning rate, epoch) to `on_log`."""
    from transformers import TrainerCallback

    class LogCallback(TrainerCallback):
        def on_log(self, args: object, state: object, control: object, logs: dict | None = None, **_: object) -> None:
            if logs:
                on_log(dict(logs))

    return LogCallback()
