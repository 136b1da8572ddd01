"""The concrete backends by name, loaded for a model card; `auto` (simvec.encoders.auto) chooses among them."""

from __future__ import annotations

import importlib.util

from simvec.encoders.base import Backend
from simvec.encoders.models import ModelCard
from simvec.errors import InputError, MissingDependencyError

CONCRETE_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-int8", "static")
BACKENDS = (*CONCRETE_BACKENDS, "auto")
# The runtimes each backend imports (onnx backends export with torch and onnx, then run on onnxruntime).
RUNTIMES = {
    "torch": ("torch", "transformers"),
    "onnx": ("torch", "onnx", "onnxruntime"),
    "onnx-int8": ("torch", "onnx", "onnxruntime"),
    "openvino-int8": ("torch", "onnx", "openvino", "nncf"),
    "static": ("model2vec",),
}


def available_backends() -> list[str]:
    """The concrete backends whose runtimes are installed here (found, not imported: this is cheap)."""
    return [name for name in CONCRETE_BACKENDS if all(_installed(module) for module in RUNTIMES[name])]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken parent package
        return False


def load_backend(card: ModelCard, backend: str, device: str = "cpu") -> Backend:
    """Instantiate a concrete backend for a model (imported lazily: each has its own optional dependencies)."""
    if backend not in CONCRETE_BACKENDS:
        raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(CONCRETE_BACKENDS)}")
    if device != "cpu" and backend != "torch":
        raise InputError(f"backend {backend!r} runs on the CPU only; use backend='torch' for device={device!r}")
    try:
        return _load(card, backend, device)
    except MissingDependencyError as exc:
        available = ", ".join(available_backends()) or "none"
        raise MissingDependencyError(f"{exc} (backends available here: {available})") from exc


def _load(card: ModelCard, backend: str, device: str) -> Backend:
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
