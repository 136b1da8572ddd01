"""The model's transformer on OpenVINO, statically quantised to int8 by NNCF (`openvino-int8`).

Chosen over ONNX Runtime's int8 where it measures faster (`auto`): on AVX-512 VNNI it runs the long documents
of retrieval corpora 1.4-1.7x faster than `onnx-int8` (BENCHMARKS.md, issue 13). The graph is the raw torch.onnx
export (OpenVINO does its own fusions), quantised once per model by NNCF's transformer recipe (SmoothQuant,
per-channel int8 weights, activation ranges from simvec's shipped calibration texts, fast bias correction) into
the verified artefact cache. OpenVINO's int8 kernels give a text a slightly different vector when its batch is
padded (min cosine 0.99985), so this backend pads each text to a width set by its own length alone (one of a few
bucket widths) and batches it only with texts of that width: the same vector alone or in any batch (1.000000).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from simvec.encoders.artifacts import model_hash
from simvec.encoders.base import TokenBackend
from simvec.encoders.calibration import load_or_build_calibrated
from simvec.encoders.models import ModelCard
from simvec.encoders.onnx import calibration_feeds, export_raw, physical_cores
from simvec.encoders.optional import require
from simvec.errors import ModelError

OPENVINO_INT8_VERSION = "1"  # bump when the export or quantisation recipe changes
GRAPH = "model.xml"  # OpenVINO IR; its weights are model.bin beside it


def quantize_openvino(card: ModelCard, out_dir: Path, calibration: str) -> None:
    """Export the transformer, quantise it with NNCF on the calibration texts, save the int8 IR and the texts."""
    ov, nncf = import_without_telemetry("openvino"), import_without_telemetry("nncf")
    raw = out_dir / "raw.onnx"
    export_raw(card, raw)
    feeds = calibration_feeds(card, calibration)
    nncf.set_log_level(logging.WARNING)
    try:
        # NNCF draws progress bars on stdout; stdout may be the user's data (`simvec embed` writes JSONL there)
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(
                ov.Core().read_model(str(raw)),
                nncf.Dataset(feeds),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(feeds),
            )
    except Exception as exc:  # NNCF's own error types vary by version; any of them means "not quantisable"
        raise ModelError(f"NNCF could not quantise {card.model_id}: {type(exc).__name__}: {exc}") from exc
    if not any(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops()):
        raise ModelError(f"NNCF found nothing to quantise in {card.model_id} (no int8 activations in its graph)")
    ov.save_model(quantized, str(out_dir / GRAPH))
    raw.unlink()


@contextlib.contextmanager
def _telemetry_off() -> Iterator[None]:
    """Import OpenVINO or NNCF without their usage telemetry: simvec never sends data anywhere.

    `import openvino` reports the import to Google Analytics (and NNCF its calls) unless the user opted out in
    ~/intel; without the `openvino_telemetry` module both fall back to their built-in no-op stubs.
    """
    if "openvino_telemetry" in sys.modules:  # already imported by the caller's own code: theirs to configure
        yield
        return
    sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # makes the import raise ImportError
    try:
        yield
    finally:
        if sys.modules.get("openvino_telemetry", False) is None:
            del sys.modules["openvino_telemetry"]


def import_without_telemetry(module: str) -> ModuleType:
    """`openvino` or `nncf`, imported without their usage telemetry (or MissingDependencyError naming it)."""
    with _telemetry_off():
        return require(module, module, "openvino-int8")


def openvino_model_dir(card: ModelCard) -> Path:
    """The verified cached int8 IR for this model (exported and quantised first when needed)."""
    return load_or_build_calibrated(
        "openvino-int8",
        f"{model_hash(card.path)[:24]}-v{OPENVINO_INT8_VERSION}",
        lambda out, calibration: quantize_openvino(card, out, calibration),
        f"OpenVINO int8 graph of {card.model_id}",
    )


class OpenVinoBackend(TokenBackend):
    """OpenVINO on CPU in fp32 precision around its int8 kernels; each text padded to its own bucket width."""

    name = "openvino-int8"
    bucketed_padding = True

    def __init__(self, card: ModelCard, threads: int | None = None) -> None:
        ov = import_without_telemetry("openvino")
        super().__init__(card)
        self.model_dir = openvino_model_dir(card)
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            # without it, CPUs with bf16 run some ops in bf16 (other vectors than torch's) and CPUs without
            # it emulate them (30x slower, measured on this machine)
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": threads or physical_cores(),
            # pinned threads cannot move off a core another process (a Ray actor, the server's clients) is using;
            # unpinned measured 1.1-1.2x faster on a loaded 2-core machine (a scratch run, not kept)
            "ENABLE_CPU_PINNING": False,
        }
        self.compiled = ov.Core().compile_model(str(self.model_dir / GRAPH), "CPU", config)
        self.inputs = {port.get_any_name() for port in self.compiled.inputs}
        self._requests = threading.local()  # an infer request serves one thread at a time

    @property
    def fingerprint(self) -> str:
        return f"{self.name}-v{OPENVINO_INT8_VERSION}"

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        # shared: no copies in or out of OpenVINO's buffers; the one copy here outlives the next call's overwrite
        return request.infer(feed, share_inputs=True, share_outputs=True)[0].copy()
