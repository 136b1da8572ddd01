"""The write lock is not held while embedding (issue 10 item 6): a delete from another connection goes through
while an add is embedding its texts, within a busy timeout far shorter than the embedding."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from simvec import Collection
from simvec.store import schema

pytestmark = pytest.mark.model


def test_a_delete_does_not_wait_for_an_add_being_embedded(encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_SECONDS", 0.2)
    path = tmp_path / "c"
    with Collection.create(path, model=encoder) as collection:
        collection.add(ids=[f"v{i}" for i in range(50)], vectors=np.random.default_rng(0).standard_normal((50, 384)))
    texts = [f"sentence number {i} about rivers, bridges and the towns that grew beside them" for i in range(200)]
    errors: list[BaseException] = []

    def add() -> None:
        try:
            with Collection.open(path, model=encoder) as writer:
                writer.add(texts, ids=[f"t{i}" for i in range(200)], batch_size=200)  # one transaction
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    adding = threading.Thread(target=add)
    transactions = 0
    with Collection.open(path) as other:
        adding.start()
        while adding.is_alive():  # each delete is a write transaction with a 0.2 s busy timeout
            other.delete([f"v{transactions % 50}"])
            transactions += 1
            time.sleep(0.02)  # room for the writer's own (short) transaction
        adding.join()
        assert other.count() == 200 + 50 - min(transactions, 50)
    assert not errors, errors
    assert transactions >= 2  # deletes went through while the 200 texts were being embedded
