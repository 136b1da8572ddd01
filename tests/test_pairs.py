"""Pair classification (MTEB's PairClassification metrics): checked against sentence-transformers on STS-B pairs."""

import numpy as np
import pytest

from simvec.errors import InputError, InputFileError
from simvec.eval.pairs import best_accuracy, best_f1, evaluate_pairs, read_pairs_tsv, score_pairs

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def stsb_tsv(data_dir, tmp_path_factory):
    """A small real example: STS-B test pairs scored >= 4 (label 1) and <= 1 (label 0), 60 of each."""
    positives, negatives = [], []
    with (data_dir / "stsb" / "sts-test.csv").open(encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            score = float(fields[4])
            if score >= 4 and len(positives) < 60:
                positives.append(f"{fields[5]}\t{fields[6]}\t1")
            elif score <= 1 and len(negatives) < 60:
                negatives.append(f"{fields[5]}\t{fields[6]}\t0")
    path = tmp_path_factory.mktemp("pairs") / "stsb-pairs.tsv"
    path.write_text("text_a\ttext_b\tlabel\n" + "\n".join(positives + negatives) + "\n", encoding="utf-8")
    return path


def test_metrics_match_the_mteb_reference_values():
    # the values of mteb's own PairClassificationEvaluator unit test
    scores = [6.12, 5.39, 5.28, 5.94, 6.34, 6.47, 7.88, 6.62, 8.04, 5.9]
    labels = [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    accuracy, threshold = best_accuracy(np.array(scores), np.array(labels))
    assert accuracy == pytest.approx(0.9) and threshold == pytest.approx(7.96)
    f1, precision, recall, threshold = best_f1(np.array(scores), np.array(labels))
    assert (f1, precision, recall) == pytest.approx((2 / 3, 1.0, 0.5)) and threshold == pytest.approx(7.96)


def test_stsb_pairs_match_sentence_transformers(stsb_tsv, encoder):
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator
    from sklearn.metrics import average_precision_score

    pairs = read_pairs_tsv(stsb_tsv)
    assert len(pairs) == 120 and pairs.labels.sum() == 60
    result = evaluate_pairs(encoder, pairs)
    a, b = encoder.encode(pairs.texts_a), encoder.encode(pairs.texts_b)
    cosines = (a * b).sum(axis=1)
    acc, acc_threshold = BinaryClassificationEvaluator.find_best_acc_and_threshold(cosines, pairs.labels, True)
    f1, precision, recall, f1_threshold = BinaryClassificationEvaluator.find_best_f1_and_threshold(
        cosines, pairs.labels, True
    )
    assert result.accuracy == pytest.approx(100 * acc) and result.accuracy_threshold == pytest.approx(acc_threshold)
    assert result.f1 == pytest.approx(100 * f1) and result.f1_threshold == pytest.approx(f1_threshold, abs=1e-6)
    assert result.ap == pytest.approx(100 * average_precision_score(pairs.labels, cosines))
    assert result.ap > 95  # score >= 4 vs <= 1 is easy for the model


def test_eval_pairs_cli(stsb_tsv, capsys):
    import json

    from simvec.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "pairs", "--data", str(stsb_tsv), "--json"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    report = json.loads(out)
    assert report["pairs"] == 120 and report["ap"] > 95 and 0 < report["f1_threshold"] < 1


def test_bad_pair_files(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\t1\nc\td\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad.tsv:2: expected 3 tab-separated fields"):
        read_pairs_tsv(bad)
    bad.write_text("a\tb\t1\nc\td\tmaybe\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad.tsv:2: label 'maybe' is not 0 or 1"):
        read_pairs_tsv(bad)
    bad.write_text("", encoding="utf-8")
    with pytest.raises(InputFileError, match="no pairs"):
        read_pairs_tsv(bad)
    with pytest.raises(InputError, match="both positives"):
        score_pairs(np.array([0.1, 0.2]), np.array([1, 1]))
