"""Measuring embeddings: dataset readers, metrics with confidence intervals, reports."""
