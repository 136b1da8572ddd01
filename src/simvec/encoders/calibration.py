"""Static int8: a dynamically quantised ONNX graph turned batch-invariant with calibrated activation scales.

ONNX Runtime's dynamic quantisation computes each activation's int8 scale from the whole batch at run time
(DynamicQuantizeLinear), so a text's vector depends on its batch neighbours. Here each of those nodes is
replaced by a QuantizeLinear with a fixed scale and zero point, calibrated once (min/max over every token)
on real texts that ship with simvec (`data/calibration.txt`, never evaluation data). Weights stay int8 per
channel. ORT fuses MatMulInteger -> Cast -> Mul into MatMulIntegerToFloat only after a dynamic quantiser,
so that fusion is written here (without it the static graph is slower than the dynamic one). Inputs keep
int8 x int8 VNNI kernels; each row of a batch is quantised with the same constants, so alone or in any
batch a text gets the same vector.

Written by hand because ORT's `quantize_static` (QDQ) also quantises op outputs or, with output
quantisation off, leaves fp32 MatMuls behind Q/DQ pairs: measured 2 Spearman points worse or slower than
the dynamic graph on this model (BENCHMARKS.md, issue 13).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simvec.encoders.artifacts import load_or_build
from simvec.errors import ModelError

if TYPE_CHECKING:  # onnx is imported where a graph is built, not when simvec is
    from onnx import ModelProto, NodeProto

CALIBRATION_FILE = "calibration.txt"


def calibration_text() -> str:
    """The shipped calibration file's content (one text per line, '#' lines are comments)."""
    return resources.files("simvec").joinpath("data", CALIBRATION_FILE).read_text(encoding="utf-8")


def parse_calibration(text: str, source: str) -> list[str]:
    """Texts of a calibration file; an empty or damaged file is an error naming it, never a silent default."""
    texts = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(texts) < 32:
        raise ModelError(f"{source}: {len(texts)} calibration texts; at least 32 are needed (damaged file?)")
    return texts


def calibration_digest(text: str) -> str:
    """Short content hash of the calibration texts: part of the int8 graph's cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def load_or_build_calibrated(kind: str, key: str, build: Callable[[Path, str], None], describe: str) -> Path:
    """The verified cached artefact built by `build(out_dir, calibration)` on the shipped calibration texts.

    The texts' digest ends the key and the texts are kept beside the graph, so a missing, damaged or changed
    copy means a rebuild, never a graph calibrated on other texts.
    """
    calibration = calibration_text()

    def build_and_keep_texts(out: Path) -> None:
        build(out, calibration)
        (out / CALIBRATION_FILE).write_text(calibration, encoding="utf-8")

    built = load_or_build(kind, f"{key}-{calibration_digest(calibration)}", build_and_keep_texts, describe)
    if (built / CALIBRATION_FILE).read_text(encoding="utf-8") != calibration:  # verified, so only a bug gets here
        raise RuntimeError(f"bug: {built} was calibrated on other texts than its key says")
    return built


def activation_ranges(model: ModelProto, feeds: Sequence[dict[str, np.ndarray]]) -> dict[str, tuple[float, float]]:
    """(min, max) of every tensor a DynamicQuantizeLinear node reads, over every token of every feed."""
    import onnx
    import onnxruntime as ort

    names = [n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    if not names:
        raise ModelError("the quantised graph has no dynamically quantised activations to calibrate")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the tensors addressable
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    low = dict.fromkeys(names, 0.0)  # u8 ranges always include 0 (as DynamicQuantizeLinear's do)
    high = dict.fromkeys(names, 0.0)
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed), strict=True):
            low[name] = min(low[name], float(value.min()))
            high[name] = max(high[name], float(value.max()))
    return {name: (low[name], high[name]) for name in names}


def make_static(model: ModelProto, ranges: dict[str, tuple[float, float]]) -> ModelProto:
    """Replace each DynamicQuantizeLinear by QuantizeLinear with the calibrated u8 scale, then fuse the matmuls."""
    from onnx import helper, numpy_helper

    graph = model.graph
    for index, node in enumerate(list(graph.node)):
        if node.op_type != "DynamicQuantizeLinear":
            continue
        low, high = ranges[node.input[0]]
        scale = (high - low) / 255 or 1.0
        zero_point = int(np.clip(round(-low / scale), 0, 255))
        quantized, scale_name, zero_name = node.output
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name),
                numpy_helper.from_array(np.array(zero_point, dtype=np.uint8), zero_name),
            ]
        )
        graph.node.remove(node)
        graph.node.insert(
            index, helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_name], [quantized], node.name)
        )
    _fuse_matmul_integer(model)
    return model


def _fuse_matmul_integer(model: ModelProto) -> None:
    """MatMulInteger -> Cast -> Mul(a_scale * b_scale) as one com.microsoft MatMulIntegerToFloat."""
    from onnx import helper

    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in graph.node for out in node.output}
    dead = []
    for matmul in [n for n in graph.node if n.op_type == "MatMulInteger"]:
        cast = _only(consumers.get(matmul.output[0], []), "Cast", matmul.name)
        mul = _only(consumers.get(cast.output[0], []), "Mul", matmul.name)
        scales = producers.get(next(i for i in mul.input if i != cast.output[0]))
        if scales is None or scales.op_type != "Mul":
            raise ModelError(f"cannot quantise {matmul.name}: its output scale is not a product of two scales")
        a, b, a_zero, b_zero = matmul.input
        a_scale, b_scale = scales.input
        if not a.startswith(a_scale.removesuffix("_scale")):  # the quantiser names each scale after its tensor
            a_scale, b_scale = b_scale, a_scale
        fused = helper.make_node(
            "MatMulIntegerToFloat",
            [a, b, a_scale, b_scale, a_zero, b_zero],
            [mul.output[0]],
            f"{matmul.name}_to_float",
            domain="com.microsoft",
        )
        graph.node.insert(list(graph.node).index(matmul), fused)
        dead += [matmul, cast, mul] + ([scales] if len(consumers[scales.output[0]]) == 1 else [])
    for node in dead:
        graph.node.remove(node)


def _only(nodes: list[NodeProto], op_type: str, where: str) -> NodeProto:
    if len(nodes) != 1 or nodes[0].op_type != op_type:
        raise ModelError(
            f"cannot quantise {where}: expected one {op_type} after it, found {[n.op_type for n in nodes]}"
        )
    return nodes[0]
