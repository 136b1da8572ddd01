"""Jobs done with vectors: classify, cluster, deduplicate, mine pairs, calibrate relevance.

Tasks take texts or vectors (and an Encoder) and return plain results; they never import the store, so a
`Collection` can offer them over its own vectors (`collection.cluster(...)`) without a cycle.
"""
