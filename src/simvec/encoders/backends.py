"""The concrete backends by name, loaded for a model card; `auto` (simvec.encoders.auto) chooses among them."""

from __future__ import annotations

from simvec.encoders.base import Backend
from simvec.encoders.models import ModelCard
from simvec.errors import InputError

CONCRETE_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-int8", "static")
BACKENDS = (*CONCRETE_BACKENDS, "auto")


def load_backend(card: ModelCard, backend: str, device: str = "cpu") -> Backend:
    """Instantiate a concrete backend for a model (imported lazily: each has its own optional dependencies)."""
    if backend not in CONCRETE_BACKENDS:
        raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(CONCRETE_BACKENDS)}")
    if device != "cpu" and backend != "torch":
        raise InputError(f"backend {backend!r} runs on the CPU only; use backend='torch' for device={device!r}")
    if backend == "torch":
        from simvec.encoders.transformer import TorchBackend

        return TorchBackend(card, device=device)
    if backend == "static":
        from simvec.encoders.static import StaticBackend

        return StaticBackend(card)
    if backend == "openvino-int8":
        from simvec.encoders.openvino import OpenVinoBackend

        return OpenVinoBackend(card)
    from simvec.encoders.onnx import OnnxBackend

    return OnnxBackend(card, int8=backend == "onnx-int8")
