"""What `find_duplicates` returns: per-document decisions, the groups they form, and their JSON forms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from simvec.errors import InputError

if TYPE_CHECKING:
    from simvec.tasks.dedup import GroupingState


@dataclass
class Member:
    """A duplicate: its id, input position, cosine to the representative, and Jaccard when checked."""

    id: str
    index: int
    score: float
    jaccard: float | None = None


@dataclass
class DuplicateGroup:
    """A kept representative and the documents removed as its duplicates (best first)."""

    representative: str
    index: int
    members: list[Member]

    def __len__(self) -> int:
        return 1 + len(self.members)


@dataclass
class Duplicates:
    """The result of `find_duplicates`: per-document decisions, the groups, and the graph to regroup from."""

    ids: list[str]
    duplicate_of: np.ndarray  # input position of the representative, -1 for a kept document
    scores: np.ndarray  # cosine to the representative, NaN for a kept document
    jaccards: np.ndarray  # character 5-gram Jaccard to the representative when checked, else NaN
    threshold: float
    keep: str
    lexical_threshold: float | None
    incomplete: int = 0  # documents whose neighbour list stayed full at MAX_NEIGHBOURS (a group may be split)
    _state: GroupingState | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kept(self) -> list[int]:
        """Input positions of the kept documents, in input order."""
        return np.flatnonzero(self.duplicate_of < 0).tolist()

    @property
    def removed(self) -> int:
        return int((self.duplicate_of >= 0).sum())

    @property
    def groups(self) -> list[DuplicateGroup]:
        """Groups with at least one duplicate, largest first (then by the representative's position)."""
        members: dict[int, list[Member]] = {}
        for i in np.flatnonzero(self.duplicate_of >= 0):
            jac = float(self.jaccards[i])
            members.setdefault(int(self.duplicate_of[i]), []).append(
                Member(self.ids[i], int(i), float(self.scores[i]), None if math.isnan(jac) else jac)
            )
        groups = [
            DuplicateGroup(self.ids[rep], rep, sorted(found, key=lambda m: (-m.score, m.index)))
            for rep, found in members.items()
        ]
        return sorted(groups, key=lambda g: (-len(g), g.index))

    def records(self) -> list[dict]:
        """One `{"id", "duplicate_of", "score"}` per input document, in input order (null when kept)."""
        return [
            {
                "id": doc_id,
                "duplicate_of": self.ids[rep] if rep >= 0 else None,
                "score": round(float(score), 6) if rep >= 0 else None,
            }
            for doc_id, rep, score in zip(self.ids, self.duplicate_of.tolist(), self.scores, strict=True)
        ]

    def summary(self, examples: int = 3) -> dict:
        """Counts, the largest group, and a few example groups, JSON-ready."""
        groups = self.groups
        return {
            "documents": len(self.ids),
            "kept": len(self.ids) - self.removed,
            "removed": self.removed,
            "groups": len(groups),
            "largest_group": len(groups[0]) if groups else 0,
            "threshold": self.threshold,
            "keep": self.keep,
            "lexical_threshold": self.lexical_threshold,
            "incomplete": self.incomplete,
            "examples": [
                {"representative": g.representative, "duplicates": [[m.id, round(m.score, 4)] for m in g.members[:5]]}
                for g in groups[:examples]
            ],
        }

    def rethreshold(self, threshold: float, *, lexical_threshold: float | None = None) -> Duplicates:
        """The same documents regrouped at another threshold, from the stored neighbour graph (no new search)."""
        if self._state is None:
            raise InputError("this result has no neighbour graph to regroup from")
        return self._state.regroup(threshold, lexical_threshold)
