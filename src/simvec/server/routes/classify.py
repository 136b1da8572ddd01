"""POST /v1/classify: zero-shot with labels given inline, or a saved classifier by name.

Saved classifiers (directories written by `simvec classify fit` / `EmbeddingClassifier.save`) are looked up by
name in the `classifiers` directory beside the collections directory (`--collections ./collections` serves
`./classifiers/<name>`). Names are plain names, never paths.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from simvec.errors import LimitExceeded
from simvec.server.state import ServerState, error, get_state
from simvec.tasks.classifier_files import CONFIG_FILE
from simvec.tasks.classify import EmbeddingClassifier, ZeroShotClassifier

router = APIRouter()
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ClassifyRequest(BaseModel):
    """Exactly one of `labels` (zero-shot) or `classifier` (a saved classifier's name)."""

    input: str | list[str] = Field(description="A text or a list of texts to classify.")
    labels: list[str] | dict[str, str | list[str]] | None = Field(
        None,
        description='Zero-shot labels: names (`card_arrival` reads as "card arrival") or {label: description or '
        "[descriptions]}.",
    )
    classifier: str | None = Field(None, description="Name of a saved classifier in the server's classifiers dir.")
    template: str | list[str] = Field("{}", description="Zero-shot template(s), each with one {} for the label text.")
    temperature: float | None = Field(None, gt=0, description="Zero-shot softmax temperature over cosines.")
    abstain_below: float | None = Field(
        None, ge=0, le=1, description="Answer label null when the best label is less than this probability ahead."
    )
    min_similarity: float | None = Field(
        None, ge=-1, le=1, description="Zero-shot: answer label null when the best label's cosine is below this."
    )


class ClassifyItem(BaseModel):
    index: int
    label: str | None = Field(description="The predicted label; null when the classifier abstained.")
    best: str = Field(description="The most probable label (even when abstaining).")
    probability: float
    runner_up: str
    runner_up_probability: float


class ClassifyResponse(BaseModel):
    object: str = "list"
    data: list[ClassifyItem]
    labels: list[str]
    model: str
    classifier: str | None = None


class SavedClassifiers:
    """Loaded classifiers by name, reloaded when their files change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str], tuple[tuple[int, ...], EmbeddingClassifier]] = {}

    def get(self, path: Path, state: ServerState) -> EmbeddingClassifier:
        stamp = tuple(f.stat().st_mtime_ns for f in sorted(path.iterdir()) if f.is_file())
        key = (path.resolve(), state.encoder.model_id)
        with self._lock:
            cached = self._loaded.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        classifier = EmbeddingClassifier.load(path, encoder=state.encoder)
        with self._lock:
            self._loaded[key] = (stamp, classifier)
        return classifier


def classifiers_dir(state: ServerState) -> Path:
    """Where saved classifiers are served from: beside the collections directory."""
    return Path(getattr(state.config, "classifiers_dir", None) or state.config.collections_dir.parent / "classifiers")


_saved = SavedClassifiers()


@router.post("/v1/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, state: ServerState = Depends(get_state)):
    """Label, probability and runner-up of each text."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    state.check_texts(texts, "input")
    if (body.labels is None) == (body.classifier is None):
        raise LimitExceeded("give exactly one of 'labels' (zero-shot) or 'classifier' (a saved classifier's name)")
    if body.classifier is not None:
        if body.min_similarity is not None:
            raise LimitExceeded("min_similarity applies to zero-shot 'labels', not to a saved classifier")
        if not NAME.fullmatch(body.classifier) or ".." in body.classifier:
            raise LimitExceeded(
                f"classifier {body.classifier!r} is not a valid name (letters, digits, '_', '-', '.'; no paths)"
            )
        path = classifiers_dir(state) / body.classifier
        if not (path / CONFIG_FILE).is_file():
            return error(404, f"no saved classifier named {body.classifier!r}", "not_found")
        classifier = await state.batcher.run_in_model_thread(_saved.get, path, state)
        vectors, _ = await state.batcher.embed(texts, kind="query")
        predictions = await state.batcher.run_in_model_thread(classifier.classify_vectors, vectors, body.abstain_below)
    else:
        classifier = ZeroShotClassifier(
            body.labels,
            encoder=state.encoder,
            template=body.template,
            temperature=body.temperature,
            abstain_below=body.abstain_below,
            min_similarity=body.min_similarity,
        )
        label_texts, _ = classifier.label_texts()
        state.check_texts(label_texts, "labels")
        # the labels in fp32 (Encoder.for_few_texts), as in Python; a few texts, in the model thread like a batch
        await state.batcher.run_in_model_thread(lambda: classifier.label_vectors)
        vectors, _ = await state.batcher.embed(texts, kind="query")
        predictions = classifier.classify_vectors(vectors)
    return {
        "object": "list",
        "data": [{"index": i, **p.as_dict()} for i, p in enumerate(predictions)],
        "labels": classifier.classes_,
        "model": state.encoder.model_id,
        "classifier": body.classifier,
    }
