"""Saved classifiers: a directory with classifier.json (model, labels, settings) and arrays.npz, checked on read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from simvec.atomic import atomic_write
from simvec.errors import InputFileError

# the methods of EmbeddingClassifier: each saves its own arrays (checked in `read_arrays`)
METHODS = ("logreg", "knn", "centroid")
CONFIG_FILE, ARRAYS_FILE, FORMAT = "classifier.json", "arrays.npz", "simvec-classifier/1"


def write_classifier(path: Path, config: dict, params: dict[str, np.ndarray]) -> None:
    """Write the settings and fitted arrays of a classifier to the directory `path` (created if missing)."""
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / ARRAYS_FILE, lambda handle: np.savez(handle, **params))
    atomic_write(
        path / CONFIG_FILE, lambda handle: handle.write(json.dumps({"format": FORMAT, **config}, indent=2).encode())
    )


def saved_model(path: str | Path) -> str:
    """The model a saved classifier was fitted with (to build its encoder before loading it)."""
    return read_config(Path(path))["model"]


def read_config(path: Path) -> dict:
    """The checked settings of the classifier saved in directory `path`."""
    file = path / CONFIG_FILE
    if not path.is_dir():
        raise InputFileError(str(path), "no such classifier directory")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(
            str(file), "missing: not a saved classifier directory (see EmbeddingClassifier.save)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(str(file), f"damaged classifier settings ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise InputFileError(str(file), f"not a simvec classifier (expected format {FORMAT!r})")
    expected = {"method": str, "model": str, "dimension": int, "labels": list, "temperature": (int, float), "k": int}
    for key, kind in expected.items():
        if not isinstance(config.get(key), kind):
            raise InputFileError(str(file), f"damaged classifier settings: {key!r} is missing or has the wrong type")
    if config["method"] not in METHODS:
        raise InputFileError(str(file), f"damaged classifier settings: unknown method {config['method']!r}")
    config.setdefault("C", 1.0)
    config.setdefault("max_iter", 1000)
    return config


def read_arrays(path: Path, config: dict) -> dict[str, np.ndarray]:
    """The fitted arrays of the classifier in `path`, their shapes checked against its settings."""
    file = path / ARRAYS_FILE
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise InputFileError(str(file), "missing: the classifier's fitted parameters are not there") from None
    except Exception as exc:  # numpy raises several types for a truncated or foreign file
        raise InputFileError(str(file), f"damaged fitted parameters ({type(exc).__name__}: {exc})") from None
    n, dim = len(config["labels"]), config["dimension"]
    shapes = {
        "logreg": {"coef": (n, dim), "intercept": (n,)},
        "centroid": {"centroids": (n, dim)},
        "knn": {"vectors": (None, dim), "targets": (None,)},
    }[config["method"]]
    for name, shape in shapes.items():
        array = arrays.get(name)
        if (
            array is None
            or array.ndim != len(shape)
            or any(s is not None and s != a for s, a in zip(shape, array.shape, strict=True))
        ):
            raise InputFileError(str(file), f"damaged fitted parameters: {name!r} is missing or has the wrong shape")
    if config["method"] == "knn":
        targets = arrays["targets"]
        if len(targets) != len(arrays["vectors"]) or len(targets) == 0 or targets.min() < 0 or targets.max() >= n:
            raise InputFileError(str(file), "damaged fitted parameters: neighbour labels do not match the label set")
    return arrays
