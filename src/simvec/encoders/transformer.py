"""The reference backend: the model's transformer on PyTorch (CPU by default)."""

from __future__ import annotations

import numpy as np

from simvec.encoders.base import TokenBackend
from simvec.encoders.models import ModelCard
from simvec.errors import ModelLoadError


class TorchBackend(TokenBackend):
    """Runs `transformers.AutoModel` from the model directory, offline."""

    name = "torch"

    def __init__(self, card: ModelCard, device: str = "cpu") -> None:
        super().__init__(card)
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            self.model = AutoModel.from_pretrained(str(card.path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{card.path}: cannot load transformer weights ({exc})") from exc
        self.model.eval().to(device)
        self.device = device
        self._torch = torch

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        with torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        return hidden.last_hidden_state.float().cpu().numpy()
