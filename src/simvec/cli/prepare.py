"""`simvec prepare`: build ahead of time what embedding needs on this machine, so the first real run is warm."""

from __future__ import annotations

import time

import typer

from simvec.cli.app import BackendOption, JsonOption, ModelOption, app, print_json


@app.command()
def prepare(model: str = ModelOption, backend: str = BackendOption, as_json: bool = JsonOption) -> None:
    """Export and quantise the model for this machine now (once; instant when already prepared)."""
    from simvec.encoders import Encoder
    from simvec.encoders.artifacts import cache_dir
    from simvec.encoders.quiet import prepared_in_this_process

    started = time.perf_counter()
    before = len(prepared_in_this_process())
    encoder = Encoder(model, backend=backend)  # constructing it builds (or verifies) every artefact it runs on
    seconds = time.perf_counter() - started
    built = prepared_in_this_process()[before:]
    where = str(encoder.artifact_dir or encoder.card.path)
    if as_json:
        print_json(
            {
                "model": encoder.model_id,
                "backend": encoder.backend.name,
                "cached_in": where,
                "cache_dir": str(cache_dir()),
                "built": [{"artifact": b.describe, "path": str(b.path), "seconds": round(b.seconds, 1)} for b in built],
                "seconds": round(seconds, 1),
            }
        )
        return
    name = f"{encoder.model_id} on backend {encoder.backend.name}"
    if built:
        what = "; ".join(f"the {b.describe} ({b.seconds:.1f} s)" for b in built)
        typer.echo(f"prepared {name} in {seconds:.1f} s, built {what}; it runs from {where}")
    else:
        typer.echo(f"already prepared: {name} runs from {where}; nothing to build ({seconds:.1f} s)")
