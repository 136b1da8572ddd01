"""Scale-out on existing engines: embedding jobs on a Ray cluster with Ray Data (docs/SCALING.md)."""

from simvec.scale.ray_embed import EmbedReport, ShardResult, embed_dataset

__all__ = ["EmbedReport", "ShardResult", "embed_dataset"]
