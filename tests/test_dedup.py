"""Near-duplicate detection: the no-chaining rule, keep policies, regrouping, the lexical check, bad input, collections."""

import json

import numpy as np
import pytest

from simvec.errors import CollectionError, InputError
from simvec.tasks.dedup import DEFAULT_THRESHOLD, find_duplicates
from simvec.tasks.lexical import jaccard, shingles
from simvec.tasks.neighbours import knn, unit_rows

pytestmark = pytest.mark.model


def chain(cos_ab: float, cos_bc: float, cos_ac: float) -> np.ndarray:
    """Three unit vectors with the given pairwise cosines (Cholesky of their Gram matrix)."""
    gram = np.array([[1, cos_ab, cos_ac], [cos_ab, 1, cos_bc], [cos_ac, cos_bc, 1]])
    return np.linalg.cholesky(gram).astype(np.float32)


def test_no_chaining_a_and_c_stay_apart():
    vectors = chain(0.95, 0.95, 0.81)  # A~B and B~C at 0.9, but not A~C
    result = find_duplicates(vectors, 0.9, ids=["A", "B", "C"])
    assert [r["duplicate_of"] for r in result.records()] == [None, "A", None]
    assert result.records()[1]["score"] == pytest.approx(0.95, abs=1e-5)
    # visited from the other end, C is kept and B joins it; A stays on its own
    result = find_duplicates(vectors[::-1].copy(), 0.9, ids=["C", "B", "A"])
    assert [r["duplicate_of"] for r in result.records()] == [None, "C", None]


def test_member_joins_the_most_similar_kept_representative():
    # A and C are not duplicates of each other; B is within the threshold of both, closer to C
    vectors = chain(0.91, 0.97, 0.80)
    result = find_duplicates(vectors, 0.9, ids=["A", "B", "C"], keep="first")
    assert result.records()[1]["duplicate_of"] == "A"  # C is not kept before B is visited: A is the only choice
    result = find_duplicates(
        vectors, 0.9, ids=["A", "B", "C"], keep="max:rank", metadata=[{"rank": 2}, {}, {"rank": 3}]
    )
    assert [r["duplicate_of"] for r in result.records()] == [None, "C", None]  # C then A kept, B to the closer C


def test_keep_policies():
    vectors = unit_rows(np.tile([[1.0, 0.0]], (3, 1)) + np.array([[0, 0.0], [0, 0.01], [0, 0.02]]))
    texts = ["medium text", "the longest text of all", "short"]
    meta = [{"year": 2001}, {"year": 1999}, {"year": 2020}]
    kept = {
        keep: find_duplicates(vectors, 0.9, texts=texts, metadata=meta, keep=keep).kept
        for keep in ("first", "longest", "shortest", "max:year", "min:year")
    }
    assert kept == {"first": [0], "longest": [1], "shortest": [2], "max:year": [2], "min:year": [1]}
    with pytest.raises(InputError, match="keep"):
        find_duplicates(vectors, keep="newest")
    with pytest.raises(InputError, match="needs the texts"):
        find_duplicates(vectors, keep="longest")
    with pytest.raises(InputError, match="all numbers or all strings"):
        find_duplicates(vectors, keep="max:year", metadata=[{"year": 1}, {"year": "x"}, {}])


def test_real_near_duplicates_of_scifact_abstracts(encoder, data_dir):
    with (data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        abstracts = [json.loads(next(handle))["text"][:600] for _ in range(12)]
    copies = [
        "\n".join(abstracts[0].split(". ")).upper(),  # reformatted
        abstracts[1].replace("the ", "teh ", 2).replace("of", "fo", 1),  # typos
        abstracts[2][: int(len(abstracts[2]) * 0.8)],  # truncated
    ]
    texts = abstracts + copies
    result = find_duplicates(texts, encoder=encoder, ids=[f"d{i}" for i in range(len(texts))])
    decisions = {r["id"]: r["duplicate_of"] for r in result.records()}
    assert [decisions["d12"], decisions["d13"], decisions["d14"]] == ["d0", "d1", "d2"]
    assert all(decisions[f"d{i}"] is None for i in range(12))  # distinct abstracts are never merged
    assert result.summary()["groups"] == 3 and result.removed == 3
    assert all(DEFAULT_THRESHOLD <= g.members[0].score <= 1.0 for g in result.groups)


def test_rethreshold_matches_a_fresh_run(encoder, data_dir):
    sentences = []
    with (data_dir / "stsb" / "sts-dev.csv").open(encoding="utf-8") as handle:
        for line in list(handle)[:60]:
            sentences += line.rstrip("\n").split("\t")[5:7]
    vectors = encoder.encode(sentences)
    first = find_duplicates(vectors, 0.95)
    for threshold in (0.7, 0.8, 0.9):
        again = first.rethreshold(threshold)
        fresh = find_duplicates(vectors, threshold)
        assert again.records() == fresh.records()
    assert first.rethreshold(0.7).removed > first.removed  # STS-B pairs are close: lower thresholds find more


def test_lexical_check_tells_reformatting_from_paraphrase(encoder):
    texts = ["A man is playing a guitar.", "A MAN IS PLAYING A GUITAR!!", "A man plays the guitar."]
    vectors = encoder.encode(texts)
    assert float(vectors[0] @ vectors[2]) >= 0.9  # the paraphrase is a duplicate by cosine alone
    assert [r["duplicate_of"] for r in find_duplicates(vectors, 0.9).records()] == [None, "0", "0"]
    result = find_duplicates(texts, 0.9, encoder=encoder, lexical_threshold=0.8)
    assert [r["duplicate_of"] for r in result.records()] == [None, "0", None]
    assert result.jaccards[1] == 1.0
    assert jaccard(shingles(texts[0]), shingles(texts[2])) < 0.8


def test_all_identical_texts_are_one_group(encoder):
    result = find_duplicates(["the same line"] * 300, encoder=encoder)
    assert result.summary()["groups"] == 1 and result.summary()["largest_group"] == 300
    assert result.kept == [0] and np.allclose(result.scores[1:], 1.0)


def test_large_groups_are_not_split_by_the_neighbour_limit():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(32)
    vectors = unit_rows(base + 0.02 * rng.standard_normal((200, 32)))  # 200 distinct, all within 0.99
    result = find_duplicates(vectors, 0.95, neighbours=8)
    assert result.kept == [0] and result.incomplete == 0


def test_bad_input(encoder):
    for threshold in (0, -0.5, 1.5, float("nan"), "0.9", True):
        with pytest.raises(InputError, match="threshold"):
            find_duplicates(["a", "b"], threshold, encoder=encoder)
    with pytest.raises(InputError, match="duplicate id 'x'"):
        find_duplicates(["a", "b"], ids=["x", "x"], encoder=encoder)
    with pytest.raises(InputError, match="ids has 1 items"):
        find_duplicates(["a", "b"], ids=["x"], encoder=encoder)
    with pytest.raises(TypeError, match=r"items\[1\] is int"):
        find_duplicates(["a", 3], encoder=encoder)
    with pytest.raises(InputError, match=r"items\[0\] contains NaN"):
        find_duplicates(np.array([[np.nan, 1.0], [1.0, 0.0]]))
    with pytest.raises(InputError, match="lexical_threshold needs the texts"):
        find_duplicates(np.eye(3), lexical_threshold=0.5)
    empty = find_duplicates([], encoder=encoder)
    assert len(empty) == 0 and empty.records() == [] and empty.summary()["groups"] == 0
    single = find_duplicates(["only one"], encoder=encoder, ids=["z"])
    assert single.records() == [{"id": "z", "duplicate_of": None, "score": None}]


def test_ivf_search_finds_the_close_pairs_exact_search_finds():
    rng = np.random.default_rng(1)
    base = unit_rows(rng.standard_normal((6000, 64)))
    near = unit_rows(base[:3000] + 0.03 * rng.standard_normal((3000, 64)).astype(np.float32))
    vectors = np.vstack([base, near])
    exact_scores, exact_ids = knn(vectors, vectors, 4, exact=True)
    ivf_scores, ivf_ids = knn(vectors, vectors, 4, exact=False)
    close = exact_scores[:, 1] >= 0.9
    assert close.sum() >= 6000
    assert (ivf_ids[close, 1] == exact_ids[close, 1]).mean() >= 0.99


# ---- collections -------------------------------------------------------------------------------------


def test_collection_duplicates_and_checked_add(tmp_path, encoder):
    from simvec import Collection

    with Collection.create(tmp_path / "c", model=encoder) as c:
        c.add(["The cat sat on the mat.", "Stocks fell sharply today.", "The cat sat on the mat!"], ids=["a", "b", "c"])
        found = c.find_duplicates()
        assert [r["duplicate_of"] for r in found.records()] == [None, None, "a"]
        assert c.find_duplicates(keep="longest").kept == [0, 1]

        texts = ["the cat sat on the mat", "A new text about rockets.", "A new text about rockets!"]
        result = c.add(texts, ids=["d", "e", "f"], on_duplicate="flag")
        assert result.added == 3 and set(result.duplicates) == {"d", "f"}
        assert c.get("d").metadata["duplicate_of"] == "a" and c.get("f").metadata["duplicate_of"] == "e"
        assert "duplicate_of" not in c.get("e").metadata

        result = c.add(["Stocks fell sharply today", "Bananas are yellow."], ids=["g", "h"], on_duplicate="skip")
        assert result.ids == ["h"] and result.duplicates["g"][0] == "b" and "g" not in c
        # replacing a document by itself is not a duplicate
        result = c.add(["Stocks fell sharply today."], ids=["b"], on_duplicate="skip")
        assert result.ids == ["b"] and not result.duplicates
        assert c.add(["Bananas are yellow"], on_duplicate="skip").ids == []
        with pytest.raises(CollectionError, match="on_duplicate"):
            c.add(["x"], on_duplicate="drop")
        with pytest.raises(InputError, match="duplicate_threshold"):
            c.add(["x"], on_duplicate="skip", duplicate_threshold=2)
