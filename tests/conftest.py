"""Shared fixtures: the real default model (loaded once per session) and the evaluation data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# CI clones the repo with shared/ beside it; SIMVEC_DATA points elsewhere when needed.
DATA_DIR = Path(os.environ.get("SIMVEC_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"evaluation data not found at {DATA_DIR}; set SIMVEC_DATA to the shared/data folder")
    return DATA_DIR


@pytest.fixture(scope="session")
def encoder():
    from simvec import Encoder

    return Encoder()


@pytest.fixture(scope="session")
def reference_model():
    """sentence-transformers on the same bundled model: the anchor our numbers are checked against."""
    from sentence_transformers import SentenceTransformer

    from simvec.encoders.models import default_model_path

    return SentenceTransformer(str(default_model_path()), device="cpu")
