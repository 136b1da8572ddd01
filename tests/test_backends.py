"""Backends: onnx / static onnx-int8 / openvino-int8 against torch, the verified artefact cache, errors, static wiring, auto."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from simvec import Encoder
from simvec.encoders import artifacts
from simvec.encoders.models import resolve_model
from simvec.encoders.optional import MissingDependencyError

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def card():
    return resolve_model(None)


@pytest.fixture(scope="session")
def torch_encoder():
    return Encoder(backend="torch")


@pytest.fixture(scope="session")
def onnx_encoder():
    """Exports once into the user cache (or reuses it): every test below shares this export."""
    return Encoder(backend="onnx")


@pytest.fixture(scope="session")
def int8_encoder(onnx_encoder):
    return Encoder(backend="onnx-int8")


@pytest.fixture(scope="session")
def openvino_encoder():
    return Encoder(backend="openvino-int8")


@pytest.fixture(params=["onnx-int8", "openvino-int8"])
def quantised_encoder(request):
    """Each statically quantised backend: both must meet issue 13's quality and batch-invariance bars."""
    return request.getfixturevalue({"onnx-int8": "int8_encoder", "openvino-int8": "openvino_encoder"}[request.param])


@pytest.fixture(scope="session")
def varied_texts(data_dir) -> list[str]:
    """200 texts: STS-B sentences plus empty, whitespace, very long, non-Latin, symbols and code."""
    from simvec.eval.sts import read_stsb

    pairs = read_stsb(data_dir / "stsb", "test")
    special = [
        "",
        "",
        " ",
        "\n\t",
        "a",
        "?",
        "🙂🚀🔥",
        "12345 67890",
        "x" * 3000,
        "word " * 2000,
        "The quick brown fox jumps over the lazy dog. " * 60,
        "自然语言处理是人工智能的一个分支。",
        "東京は日本の首都です。",
        "한국어 문장을 임베딩합니다.",
        "Привет, как дела? Это тестовое предложение.",
        "مرحبا بالعالم، هذه جملة عربية.",
        "यह एक हिंदी वाक्य है।",
        "Γειά σου κόσμε",
        "שלום עולם",
        "def f(x):\n    return x ** 2  # code",
        "<html><body>tag soup</body></html>",
        "ÀÉÎÕÜ àéîõü ß ø å",
        "mixed English и русский 和中文",
        "URL https://example.org/a?b=c&d=e",
    ]
    return special + pairs.sentences1[: 200 - len(special)]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def test_onnx_matches_torch_on_varied_texts(torch_encoder, onnx_encoder, varied_texts):
    assert len(varied_texts) == 200
    reference = torch_encoder.encode(varied_texts, batch_size=32)
    vectors = onnx_encoder.encode(varied_texts, batch_size=32)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    cos = cosines(vectors, reference)
    worst = int(cos.argmin())
    assert cos.min() >= 0.9999, f"text {worst} ({varied_texts[worst][:40]!r}) has cosine {cos.min():.6f} to torch"
    # same tokenizer loop: the same texts are truncated and counted
    assert onnx_encoder.last_stats.truncated == torch_encoder.last_stats.truncated > 0


def test_onnx_single_text_and_empty_contract(onnx_encoder):
    assert onnx_encoder.encode("one text").shape == (384,)
    assert onnx_encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        onnx_encoder.encode(["ok", None])


def test_int8_stays_close_to_torch(torch_encoder, quantised_encoder, varied_texts):
    sentences = varied_texts[24:]
    cos = cosines(quantised_encoder.encode(sentences), torch_encoder.encode(sentences))
    assert cos.mean() >= 0.98 and cos.min() >= 0.95


def test_onnx_inference_needs_no_torch(card, onnx_encoder, monkeypatch):
    from simvec.encoders.onnx import OnnxBackend

    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now raises ImportError
    backend = OnnxBackend(card)
    vectors, _ = backend.embed(["no torch here"], 1)
    assert vectors.shape == (1, 384)


def test_damaged_calibration_texts_in_the_cache_force_a_rebuild(card, quantised_encoder, tmp_path, monkeypatch):
    """The int8 artefact keeps the texts it was calibrated on: a missing or damaged copy invalidates the graph."""
    from simvec.encoders.backends import load_backend
    from simvec.encoders.calibration import CALIBRATION_FILE

    original = quantised_encoder.backend
    relative = original.model_dir.relative_to(artifacts.cache_dir())
    kinds, graph = {
        "onnx-int8": (("onnx", "onnx-int8"), "model.onnx"),
        "openvino-int8": (("openvino-int8",), "model.xml"),
    }[original.name]
    for kind in kinds:
        shutil.copytree(artifacts.cache_dir() / kind, tmp_path / kind)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    calibration = tmp_path / relative / CALIBRATION_FILE
    calibration.write_text(calibration.read_text(encoding="utf-8").replace("e", "x"), encoding="utf-8")  # same size
    assert "sha256" in artifacts.problem(calibration.parent)
    (tmp_path / relative / graph).unlink()
    calibration.unlink()
    assert "missing" in artifacts.problem(calibration.parent)
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = load_backend(card, original.name)
    assert artifacts.problem(rebuilt.model_dir) is None and rebuilt.model_dir == calibration.parent
    texts = ["rebuilt graphs embed like the original", "second"]
    np.testing.assert_allclose(rebuilt.embed(texts, 2)[0], original.embed(texts, 2)[0], atol=1e-5)


def test_damaged_shipped_calibration_file_is_an_error_not_a_default():
    from simvec.encoders.calibration import calibration_text, parse_calibration
    from simvec.errors import ModelError

    assert len(parse_calibration(calibration_text(), "calibration.txt")) >= 200
    with pytest.raises(ModelError, match=r"calibration.txt: 1 calibration texts"):
        parse_calibration("# header\nonly one line\n", "calibration.txt")


def test_artifact_cache_verifies_and_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    builds = []

    def build(out):
        builds.append(out)
        (out / "weights.bin").write_bytes(b"0123456789")

    first = artifacts.load_or_build("thing", "k", build, "test thing")
    assert artifacts.load_or_build("thing", "k", build, "test thing") == first and len(builds) == 1
    (first / "weights.bin").write_bytes(b"0123456780")  # same size, different content: the hash catches it
    with pytest.warns(UserWarning, match="sha256"):
        artifacts.load_or_build("thing", "k", build, "test thing")
    (first / "manifest.json").unlink()  # an interrupted build never wrote its manifest
    with pytest.warns(UserWarning, match="partial"):
        artifacts.load_or_build("thing", "k", build, "test thing")
    assert len(builds) == 3 and (first / "weights.bin").read_bytes() == b"0123456789"

    def failing(out):
        (out / "half").write_bytes(b"x")
        raise RuntimeError("export crashed")

    with pytest.raises(RuntimeError):
        artifacts.load_or_build("thing", "other", failing, "test thing")
    assert sorted(p.name for p in (tmp_path / "thing").iterdir()) == ["k"]  # no partial dir, no temp left


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown backend 'tensorrt'.*torch, onnx, onnx-int8, openvino-int8, static, auto"
    ):
        Encoder(backend="tensorrt")


@pytest.mark.parametrize(
    ("backend", "module", "package"),
    [
        ("onnx", "onnxruntime", "onnxruntime"),
        ("onnx-int8", "onnxruntime", "onnxruntime"),
        ("static", "model2vec", "model2vec"),
    ],
)
def test_missing_dependency_names_the_package(backend, module, package, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=f"pip install {package}"):
        Encoder(backend=backend)


def test_static_backend_distils_once_and_embeds():
    """The real model2vec distillation, built once into the user cache (about a minute on a cold machine)
    and reused: a second Encoder loads the same verified artefact without rebuilding it."""
    encoder = Encoder(backend="static")
    manifest = encoder.backend.model_dir / artifacts.MANIFEST
    built = manifest.stat().st_mtime_ns
    assert Encoder(backend="static").backend.model_dir == encoder.backend.model_dir
    assert manifest.stat().st_mtime_ns == built  # reused, not rebuilt
    assert encoder.dimension == 256
    guitar, plays, market = encoder.encode(
        ["A man is playing a guitar.", "Someone plays guitar.", "The stock market fell."]
    )
    assert guitar @ plays > guitar @ market + 0.2
    vectors = encoder.encode(["a static model", "", "word " * 5000])
    assert vectors.shape == (3, 256) and np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1, atol=1e-5)
    assert encoder.last_stats.truncated == 0  # a bag of tokens has no context window
    assert encoder.encode([]).shape == (0, 256)


def test_auto_never_picks_int8_that_fails_the_check(card, int8_encoder, tmp_path, monkeypatch):
    from simvec.encoders import auto

    monkeypatch.setattr(auto, "cache_dir", lambda: tmp_path)  # keep this decision out of the user cache
    strict = auto.Tolerance(min_cosine=0.9999, max_pair_delta=0.001)  # int8 cannot meet this; fp32 onnx can
    backend, decision = auto.choose_backend(card, strict, refresh=True)
    report = decision["candidates"]
    assert report["onnx-int8"]["passed"] is False
    assert backend.name in ("onnx", "torch") and report[backend.name]["passed"]
    assert "OUTSIDE tolerance" in decision["reason"]
    again, again_decision = auto.choose_backend(card, strict)  # recorded: no second measurement
    assert again.name == backend.name and again_decision["reason"].endswith("[cached decision]")


VNNI_FLAGS = frozenset({"fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
AVX2_FLAGS = frozenset({"fma", "avx2"})


def test_auto_is_the_default_explains_its_rule_and_builds_nothing_past_its_choice(onnx_encoder, int8_encoder):
    """The default follows this CPU's rule: the first candidate in the rule's order that passes the check, and no
    later candidate is built or measured (a race is for CPUs no rule covers)."""
    from simvec.encoders import auto

    encoder = Encoder()
    details = encoder.info()
    decision = encoder.backend_choice
    rule = auto.cpu_rule(auto.cpu_flags())
    assert details["backend_rule"] == decision["rule"] == rule.name
    assert details["backend"] in details["backend_reason"] and f"rule {rule.name}" in details["backend_reason"]
    report = decision["candidates"]
    if rule.order is not None:
        tried = [name for name in rule.order if name in report]
        assert tried == list(rule.order[: len(tried)]) and tried[-1] == details["backend"]
        assert all(not report[name]["passed"] for name in tried[:-1])
        assert all("texts_per_s" not in result for result in report.values())  # nothing was timed
    chosen = report[details["backend"]]
    assert chosen["passed"] and chosen["batch_cosine"] >= auto.Tolerance().min_batch_cosine
    assert chosen["rank_overlap"] >= auto.Tolerance().min_rank_overlap


def test_cpu_flags_are_read_from_cpuinfo_and_unknown_when_missing(tmp_path):
    from simvec.encoders.auto import cpu_flags

    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx2 fma avx512_vnni\n\n")
    assert cpu_flags(x86) == {"fpu", "sse4_2", "avx2", "fma", "avx512_vnni"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")
    assert cpu_flags(arm) == {"fp", "asimd", "asimddp"}
    empty = tmp_path / "empty"
    empty.write_text("processor\t: 0\nflags\t\t:\n")
    assert cpu_flags(empty) is None and cpu_flags(tmp_path / "missing") is None


def test_cpu_rules_map_features_to_an_order_and_unknown_cpus_to_a_race():
    from simvec.encoders.auto import AVX2_RULE, RACE_RULE, VNNI_RULE, cpu_rule

    assert cpu_rule(VNNI_FLAGS) is VNNI_RULE and VNNI_RULE.order[0] == "openvino-int8"
    assert cpu_rule(frozenset({"fma", "avx2", "amx_int8", "amx_bf16"})) is VNNI_RULE
    assert cpu_rule(AVX2_FLAGS) is AVX2_RULE and AVX2_RULE.order[0] == "onnx-int8"
    for unknown in (None, frozenset(), frozenset({"fp", "asimd"}), frozenset({"fma", "avx2", "avx_vnni"})):
        assert cpu_rule(unknown) is RACE_RULE and RACE_RULE.order is None
    assert all(rule.order[-1] == "torch" for rule in (VNNI_RULE, AVX2_RULE))  # the reference always remains


def test_auto_keeps_its_preference_unless_another_backend_is_clearly_faster():
    """One slow round (a load spike) must not flip a race; a consistent clear win must."""
    from simvec.encoders.auto import pick_fastest

    spiky = {"onnx-int8": [1.0, 1.0, 5.0, 1.0, 1.0], "onnx": [1.1, 1.0, 1.0, 1.05, 1.1], "torch": [0.95] * 5}
    assert pick_fastest(["onnx-int8", "onnx", "torch"], spiky, margin=1.3) == "onnx-int8"
    clear = {"onnx-int8": [2.0, 2.1, 1.9, 2.0, 2.2], "onnx": [1.0, 1.1, 1.0, 0.9, 1.0], "torch": [1.5] * 5}
    assert pick_fastest(["onnx-int8", "onnx", "torch"], clear, margin=1.3) == "onnx"
    assert pick_fastest(["torch"], clear, margin=1.3) == "torch"


@pytest.fixture()
def cpu_hog():
    """Both cores busy (two spinning processes), stopped by PID afterwards."""
    import subprocess

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.fixture()
def private_decisions(tmp_path, monkeypatch):
    """A cache whose `auto` decisions are this test's own, sharing the session's built graphs."""
    fresh = tmp_path / "cache"
    fresh.mkdir()
    for entry in artifacts.cache_dir().iterdir():
        if entry.is_dir() and entry.name != "auto":
            (fresh / entry.name).symlink_to(entry, target_is_directory=True)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(fresh))
    return fresh


def test_race_for_an_unknown_cpu_decides_the_same_under_a_cpu_hog(card, int8_encoder, openvino_encoder, request):
    """A CPU no rule covers races the candidates; both cores busy must not change the outcome."""
    from simvec.encoders import auto

    texts = auto.speed_sample()[:16]
    candidates = ("onnx-int8", "openvino-int8")  # the pair whose order differs between the CPU kinds
    quiet, _ = auto.evaluate_candidates(card, auto.Tolerance(), None, candidates, texts)
    request.getfixturevalue("cpu_hog")
    busy, _ = auto.evaluate_candidates(card, auto.Tolerance(), None, candidates, texts)
    assert quiet["rule"] == busy["rule"] == "race" and quiet["cpu_flags"] is None
    assert busy["chosen"] == quiet["chosen"], (quiet["reason"], busy["reason"])
    assert all(len(quiet["candidates"][name]["seconds_per_round"]) == auto.RACE_ROUNDS for name in candidates)


def test_fresh_processes_under_load_pick_the_same_backend(private_decisions, int8_encoder, cpu_hog):
    """Each process decides anew (no cached decision) while both cores are busy: one answer, this session's."""
    import shutil
    import subprocess

    script = "import json; from simvec import Encoder; e = Encoder(); print(json.dumps(e.provenance))"
    seen = []
    for _ in range(2):
        shutil.rmtree(private_decisions / "auto", ignore_errors=True)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        seen.append(json.loads(done.stdout.splitlines()[-1]))
    assert seen[0] == seen[1] and seen[0]["backend"] == Encoder().backend.name, seen


def test_damaged_cached_decision_is_decided_again(card, private_decisions, monkeypatch):
    """A cached decision that cannot be read, or names a backend that does not exist, is made again and rewritten."""
    from simvec.encoders import auto

    backend, decision = auto.choose_backend(card)  # the real decision, once
    (path,) = (private_decisions / "auto").iterdir()
    decided = []
    monkeypatch.setattr(auto, "evaluate_candidates", lambda *args: decided.append(args) or (decision, backend))
    for damage in ("{not json", "[]", '{"chosen": "no-such-backend"}', ""):
        path.write_text(damage)
        again, redecided = auto.choose_backend(card)
        assert again.name == backend.name and not redecided["reason"].endswith("[cached decision]")
        assert json.loads(path.read_text())["chosen"] == backend.name  # written anew
    assert len(decided) == 4
    assert auto.choose_backend(card)[1]["reason"].endswith("[cached decision]") and len(decided) == 4


def test_a_runtime_that_fails_to_import_is_skipped_with_its_reason(card, int8_encoder, private_decisions, monkeypatch):
    """On a VNNI CPU openvino-int8 comes first; without OpenVINO, auto takes the next and says why."""
    from simvec.encoders import auto

    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setattr(auto, "cpu_flags", lambda: VNNI_FLAGS)
    backend, decision = auto.choose_backend(card)
    assert backend.name == "onnx-int8" and decision["rule"] == "avx512-vnni"
    assert "openvino-int8 unavailable (MissingDependencyError: the 'openvino-int8' backend needs" in decision["reason"]


@pytest.mark.parametrize("backend", ["openvino-int8", "static"])
def test_an_unavailable_backend_is_a_one_line_error_listing_what_is_available(backend, monkeypatch, capsys):
    from simvec.cli import main

    monkeypatch.setitem(sys.modules, {"openvino-int8": "openvino", "static": "model2vec"}[backend], None)
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--backend", backend])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"the {backend!r} backend needs" in line and "backends available here: torch, onnx, onnx-int8" in line


def test_int8_is_batch_invariant_on_mixed_lengths(quantised_encoder, varied_texts):
    """A text alone and the same text inside batches of mixed lengths (long, empty, non-Latin) get one vector."""
    alone = np.stack([quantised_encoder.encode(text) for text in varied_texts[:48]])
    for batch_size in (7, 32, 200):
        batched = quantised_encoder.encode(varied_texts[::-1], batch_size=batch_size)[::-1][:48]
        assert cosines(alone, batched).min() >= 0.9999, batch_size


def test_int8_keeps_stsb_quality(quantised_encoder, data_dir, fp32_stsb):
    """Full STS-B test: each static int8 backend within 0.3 Spearman points of fp32 measured in the same run."""
    from simvec.eval.sts import evaluate_sts, read_stsb

    result = evaluate_sts(quantised_encoder, read_stsb(data_dir / "stsb", "test"), n_resamples=10)
    assert result.spearman >= fp32_stsb.spearman - 0.3, (result.spearman, fp32_stsb.spearman)


def test_int8_keeps_scifact_quality(quantised_encoder, exact_encoder, beir_subset, data_dir):
    """All 300 SciFact test queries over their judged documents and 500 others: each int8 backend's nDCG@10 within
    0.005 of fp32 in the same run. The published figure (full corpus, fp32) is reproduced in test_retrieval.py."""
    from simvec.eval.retrieval import evaluate_retrieval

    subset = beir_subset(data_dir / "scifact", queries=300, others=500)
    (quantised,) = evaluate_retrieval(subset, modes=("dense",), model=quantised_encoder)
    (reference,) = evaluate_retrieval(subset, modes=("dense",), model=exact_encoder)
    assert quantised.queries == 300 and quantised.documents == reference.documents > 500
    assert quantised.metrics["ndcg@10"] >= reference.metrics["ndcg@10"] - 0.005, (quantised.metrics, reference.metrics)


def test_length_batches_sort_longest_first_and_can_keep_one_width_per_batch():
    from simvec.encoders.base import length_batches

    widths = np.array([3, 9, 3, 5, 9, 9, 3])
    padded = [rows.tolist() for rows in length_batches(widths, 2)]
    assert padded == [[1, 4], [5, 3], [0, 2], [6]]  # stable: equal widths keep input order
    one_width = [rows.tolist() for rows in length_batches(widths, 2, one_width=True)]
    assert one_width == [[1, 4], [5], [3], [0, 2], [6]]
    assert [rows.tolist() for rows in length_batches(np.array([], dtype=np.int64), 4, True)] == []


def test_bucket_widths_hold_each_text_with_bounded_padding():
    from simvec.encoders.base import bucket_widths

    lengths = np.arange(1, 257)
    widths = bucket_widths(lengths, 256)
    assert (widths >= lengths).all() and widths.max() == 256 and len(np.unique(widths)) == 13
    assert (widths[lengths > 32] <= np.ceil(lengths[lengths > 32] * 1.4)).all()  # at most ~40% padding past 32
    assert bucket_widths(np.array([3, 512]), 512).tolist() == [8, 512]  # any model's maximum is a width


def test_unquantisable_graph_makes_auto_fall_back_and_say_why(card, tmp_path, monkeypatch):
    """A graph in which the quantiser finds nothing to quantise cannot become static int8: auto says so."""
    import onnxruntime.quantization as quantization

    from simvec.encoders import auto

    for kind in ("onnx", "openvino-int8"):
        shutil.copytree(artifacts.cache_dir() / kind, tmp_path / kind)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    # the quantiser leaves the graph as it is (as it does for a model with no MatMul it can quantise)
    monkeypatch.setattr(quantization, "quantize_dynamic", lambda source, target, **_: shutil.copy(source, target))
    monkeypatch.setattr(auto, "cpu_flags", lambda: AVX2_FLAGS)  # the rule that tries it first
    backend, decision = auto.choose_backend(card, refresh=True)
    assert backend.name != "onnx-int8" and not decision["candidates"]["onnx-int8"]["passed"]
    assert (
        "onnx-int8 unavailable (ModelError: the quantised graph has no dynamically quantised activations"
        in (decision["reason"])
    )
    assert not (tmp_path / "onnx-int8").exists() or not any((tmp_path / "onnx-int8").iterdir())  # nothing half-built


def test_graph_nncf_cannot_quantise_makes_auto_fall_back_and_info_say_why(
    card, openvino_encoder, tmp_path, monkeypatch
):
    """NNCF returning the graph unquantised (as for a model with nothing it can quantise) is refused, not cached."""
    import nncf

    from simvec.encoders import auto

    for kind in ("onnx", "onnx-int8"):
        shutil.copytree(artifacts.cache_dir() / kind, tmp_path / kind)
    monkeypatch.setenv("SIMVEC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nncf, "quantize", lambda model, *args, **kwargs: model)
    monkeypatch.setattr(auto, "cpu_flags", lambda: VNNI_FLAGS)  # the rule that tries it first, here and in info
    backend, decision = auto.choose_backend(card, refresh=True)
    assert backend.name != "openvino-int8" and not decision["candidates"]["openvino-int8"]["passed"]
    assert "openvino-int8 unavailable (ModelError: NNCF found nothing to quantise" in decision["reason"]
    assert not (tmp_path / "openvino-int8").exists() or not any((tmp_path / "openvino-int8").iterdir())
    assert "NNCF found nothing to quantise" in Encoder().info()["backend_reason"]  # what `simvec info` prints


def test_simvec_backend_pins_what_auto_means(monkeypatch, capsys):
    from simvec.cli import main
    from simvec.errors import InputError

    monkeypatch.setenv("SIMVEC_BACKEND", "onnx")
    encoder = Encoder()
    assert encoder.backend.name == "onnx" and encoder.info()["backend_rule"] == "pinned"
    assert "SIMVEC_BACKEND=onnx" in encoder.info()["backend_reason"]
    assert Encoder(backend="torch").backend.name == "torch"  # a backend named in code wins over the environment
    monkeypatch.setenv("SIMVEC_BACKEND", "onnx-fp8")
    with pytest.raises(InputError, match=r"\$SIMVEC_BACKEND='onnx-fp8' is not a backend; valid: torch, onnx"):
        Encoder()
    with pytest.raises(SystemExit) as exit_info:
        main(["info"])
    assert exit_info.value.code == 2 and "SIMVEC_BACKEND='onnx-fp8' is not a backend" in capsys.readouterr().err
