"""The quickstart behind `make demo`: embed the bundled sample corpus and search it."""

from __future__ import annotations

import json
import time
from importlib import resources

from rich.console import Console
from rich.table import Table

from simvec.encoders import Encoder
from simvec.vectors.similarity import top_k

QUERIES = (
    "How do I bake bread at home?",
    "telescopes that look at distant galaxies",
    "ways to save money for the future",
    "what happens to trees in the fall",
    "fixing slow database queries",
)
PAIR = ("A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell.")


def sample_corpus() -> list[dict]:
    """The ~100 short documents (id, text, topic) that ship with simvec."""
    lines = resources.files("simvec.data").joinpath("sample_corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def run_demo(console: Console | None = None) -> None:
    """Embed the sample corpus, answer a few queries, compare a sentence pair."""
    console = console or Console()
    started = time.perf_counter()
    encoder = Encoder()
    console.print(f"[bold]simvec[/bold] demo — {encoder!r}")
    corpus = sample_corpus()
    doc_vectors = encoder.encode_documents([d["text"] for d in corpus])
    console.print(
        f"Embedded {len(corpus)} documents into {doc_vectors.shape[1]}-d vectors "
        f"({encoder.last_stats.texts_per_second:.0f} texts/s)."
    )
    query_vectors = encoder.encode_queries(list(QUERIES))
    scores, indices = top_k(query_vectors, doc_vectors, k=3)
    for query, hit_ids, hit_scores in zip(QUERIES, indices, scores, strict=False):
        table = Table(title=f"query: {query}", title_justify="left", show_header=True)
        table.add_column("score", justify="right")
        table.add_column("topic")
        table.add_column("document")
        for i, score in zip(hit_ids, hit_scores, strict=False):
            table.add_row(f"{score:.3f}", corpus[i]["topic"], corpus[i]["text"])
        console.print(table)
    a, b, c = encoder.encode(list(PAIR))
    console.print("Sentence similarity (cosine):")
    console.print(f"  {PAIR[0]!r} vs {PAIR[1]!r}: [green]{float(a @ b):.3f}[/green]")
    console.print(f"  {PAIR[0]!r} vs {PAIR[2]!r}: [red]{float(a @ c):.3f}[/red]")
    console.print(f"Done in {time.perf_counter() - started:.1f} s.")
