"""The model's transformer on ONNX Runtime: fp32 (`onnx`) and statically quantised int8 (`onnx-int8`).

Export happens once per model content hash (torch.onnx, then ONNX Runtime's transformer fusions; int8 by
onnxruntime.quantization plus calibrated activation scales, simvec.encoders.calibration) into the verified
artefact cache; inference needs only onnxruntime and tokenizers.
Tokenization, length sorting, padding and pooling are `TokenBackend`'s, so only `forward` differs from torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from simvec.encoders.artifacts import load_or_build, model_hash
from simvec.encoders.base import TokenBackend, load_tokenizer
from simvec.encoders.calibration import (
    CALIBRATION_FILE,
    activation_ranges,
    load_or_build_calibrated,
    make_static,
    parse_calibration,
)
from simvec.encoders.models import ModelCard
from simvec.encoders.optional import require

# Bump when the export recipe changes, so old cached graphs are not reused for a different recipe.
EXPORT_VERSION = "1"
INT8_VERSION = "1"  # the static int8 recipe (simvec.encoders.calibration)
OPSET = 17


def physical_cores() -> int:
    """Cores this process may use, counting SMT siblings once (intra-op threads beyond that only contend)."""
    try:
        import psutil  # optional: the only portable way to tell physical from logical cores

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # OMP_NUM_THREADS caps it as it caps torch: Ray sets it to an actor's CPUs, so actors sharing a node do not contend
    limit = os.environ.get("OMP_NUM_THREADS", "")
    if limit.isdigit() and int(limit) > 0:
        usable = min(usable, int(limit))
    return max(1, min(cores or usable, usable))


def export_raw(card: ModelCard, path: Path) -> None:
    """torch.onnx export of the transformer (dynamic batch and sequence axes), unfused: every runtime's input."""
    torch = require("torch", "torch", "onnx")
    require("onnx", "onnx", "onnx")
    from transformers import AutoModel

    # eager attention: the explicit softmax(QK^T)V pattern is what ORT's attention fusion matches (SDPA is not)
    model = AutoModel.from_pretrained(str(card.path), local_files_only=True, attn_implementation="eager").eval()

    class Wrapper(torch.nn.Module):
        """Keyword call and a plain tensor out: transformers' forward signature and output object vary."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
    with torch.inference_mode():
        # dynamo=False: the TorchScript exporter emits the BERT attention pattern that ORT's fusions recognise.
        torch.onnx.export(
            Wrapper(),
            (ids, ids, torch.zeros_like(ids)),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def export_fp32(card: ModelCard, out_dir: Path) -> None:
    """The raw export, then ORT's BERT fusions, saved as `model.onnx`."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(card.path), local_files_only=True)
    raw = out_dir / "raw.onnx"
    export_raw(card, raw)
    from onnxruntime.transformers.optimizer import optimize_model

    # opt_level=0: Python fusions only (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm), no
    # hardware-specific ORT rewrites baked into the file; the session applies ORT_ENABLE_ALL at load.
    optimized = optimize_model(
        str(raw),
        model_type="bert",  # ORT's encoder-only fusions (BERT, RoBERTa, MiniLM, MPNet-style graphs)
        num_heads=getattr(config, "num_attention_heads", 0),
        hidden_size=getattr(config, "hidden_size", 0),
        opt_level=0,
        use_gpu=False,
    )
    optimized.save_model_to_file(str(out_dir / "model.onnx"))
    raw.unlink()
    (out_dir / "export.json").write_text(
        json.dumps({"fused_ops": optimized.get_fused_operator_statistics(), "opset": OPSET}, indent=2)
    )


def quantize_int8(card: ModelCard, fp32_dir: Path, out_dir: Path, calibration: str) -> None:
    """Static int8 of the fused fp32 graph: int8 weights per channel, activation scales calibrated once.

    ORT's dynamic quantiser writes the int8 graph (weights per channel; with AVX-512 VNNI, u8 activations x
    s8 weights run on the VNNI dot-product instructions, so reduce_range stays off); simvec.encoders.calibration
    then fixes every activation scale from the shipped calibration texts, so vectors do not depend on the batch.
    The texts used are kept beside the graph: the artefact's manifest covers them, so a missing or damaged
    copy makes the whole artefact invalid and it is rebuilt.
    """
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dynamic = out_dir / "dynamic.onnx"
    quantize_dynamic(
        fp32_dir / "model.onnx",
        dynamic,
        per_channel=True,
        reduce_range=False,
        weight_type=QuantType.QInt8,
        # ONNX shape inference cannot type the outputs of ORT's fused (com.microsoft) ops; they are float32.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    model = onnx.load(dynamic)
    dynamic.unlink()
    inputs = {i.name for i in model.graph.input}
    feeds = [{k: v for k, v in f.items() if k in inputs} for f in calibration_feeds(card, calibration)]
    onnx.save(make_static(model, activation_ranges(model, feeds)), out_dir / "model.onnx")


def calibration_feeds(card: ModelCard, calibration: str) -> list[dict[str, np.ndarray]]:
    """One model input per calibration text (no padding enters the ranges): input_ids, attention_mask, token_type_ids."""
    texts = parse_calibration(calibration, CALIBRATION_FILE)
    tokenizer = load_tokenizer(card)
    feeds = []
    for encoding in tokenizer.encode_batch([t.lower() for t in texts] if card.do_lower_case else texts):
        ids = np.asarray([encoding.ids], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return feeds


def onnx_model_dir(card: ModelCard, int8: bool) -> Path:
    """The verified cached graph for this model (exporting / quantising it first when needed)."""
    key = f"{model_hash(card.path)[:24]}-v{EXPORT_VERSION}"
    fp32 = load_or_build("onnx", key, lambda out: export_fp32(card, out), f"ONNX export of {card.model_id}")
    if not int8:
        return fp32
    return load_or_build_calibrated(
        "onnx-int8",
        f"{key}-static{INT8_VERSION}",
        lambda out, calibration: quantize_int8(card, fp32, out, calibration),
        f"int8 ONNX graph of {card.model_id}",
    )


class OnnxBackend(TokenBackend):
    """ONNX Runtime on CPU, intra-op threads = physical cores; the same tokenize/sort/pool loop as torch."""

    def __init__(self, card: ModelCard, int8: bool = False, threads: int | None = None) -> None:
        ort = require("onnxruntime", "onnxruntime", "onnx-int8" if int8 else "onnx")
        super().__init__(card)
        self.name = "onnx-int8" if int8 else "onnx"
        self.model_dir = onnx_model_dir(card, int8)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1  # one graph, run sequentially: parallelism is inside each op
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle intra-op threads sleep instead of spinning: on a machine shared with other work (or with the
        # server's event loop) spinning burns CPU-seconds for nothing (issue 13's server CPU measurement).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    @property
    def fingerprint(self) -> str:
        return f"{self.name}-v{EXPORT_VERSION}" + (f"-static{INT8_VERSION}" if self.name == "onnx-int8" else "")

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self.session.run(["last_hidden_state"], feed)[0]
