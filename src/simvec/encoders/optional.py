"""Optional dependencies of backends: import them, or say exactly which pip package is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from simvec.errors import MissingDependencyError


def require(module: str, package: str, backend: str) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {backend!r} backend needs the {package!r} package; install it with: pip install {package}"
        ) from exc
