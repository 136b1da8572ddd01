"""Banking77 in full: MTEB's published accuracy, and the label prior beating zero-shot and data alone.

The 13,083 texts come from simvec's embedding cache after the first run, so this module stays fast on repeats.
"""

import json

import pytest

from simvec import Encoder
from simvec.cli import main
from simvec.eval.classification import embed, evaluate_zero_shot, few_shot_curves, read_classification_dir

pytestmark = pytest.mark.model

MTEB_BANKING77_ACCURACY = 80.04  # all-MiniLM-L6-v2 on the MTEB leaderboard (Banking77Classification, test)


@pytest.fixture(scope="module")
def banking77(data_dir):
    cached = Encoder(cache=True)
    train, test, names = read_classification_dir(data_dir / "banking77")
    return cached, train, test, names, (embed(cached, train.texts), embed(cached, test.texts))


def test_eval_classification_reproduces_mteb(banking77, data_dir, capsys):
    # pinned to fp32 onnx (torch's vectors): a reproduction of the published number needs the exact backend;
    # the default static int8 scores 79.70 here (-0.34), BENCHMARKS.md issue 13
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "classification", "--data", str(data_dir / "banking77"), "--json", "--backend", "onnx"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    result = json.loads(out)
    assert result["accuracy"] == pytest.approx(MTEB_BANKING77_ACCURACY, abs=0.3)
    assert (result["n_train"], result["n_test"], result["n_labels"]) == (10003, 3080, 77)
    assert len(result["experiments"]) == 10 and {e["n_train"] for e in result["experiments"]} == {616}
    assert result["unseen_test_labels"] == {}
    assert 78 < result["f1"] < result["accuracy"]


def test_label_prior_beats_zero_shot_and_examples_alone(banking77):
    encoder, train, test, names, vectors = banking77
    zero_shot = evaluate_zero_shot(encoder, test, names, test_vectors=vectors[1])["accuracy"]
    curves = few_shot_curves(
        encoder, train, test, names, shots=(1, 8), runs=2, methods=("centroid", "label-prior centroid"), vectors=vectors
    )
    accuracy = {(r["method"], r["shots"]): r["accuracy"] for r in curves}
    for shots in (1, 8):
        assert accuracy["label-prior centroid", shots] > max(zero_shot, accuracy["centroid", shots])
