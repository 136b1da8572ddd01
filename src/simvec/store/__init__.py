"""Collections: SQLite schema and transactions, filters -> SQL, FTS5 keyword search, hybrid fusion."""

from simvec.store.collection import AddResult, Collection, CollectionError, Document, Hit
from simvec.store.filters import FilterError, compile_filter

__all__ = ["AddResult", "Collection", "CollectionError", "Document", "FilterError", "Hit", "compile_filter"]
