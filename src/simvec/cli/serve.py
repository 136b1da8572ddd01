"""`simvec serve`: the HTTP server (FastAPI on uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from simvec.cli.app import ModelOption, app


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port."),
    collections: Path = typer.Option(
        Path("collections"), "--collections", help="Directory holding the served collections."
    ),
    model: str = ModelOption,
    api_key: str = typer.Option(
        None, "--api-key", envvar="SIMVEC_API_KEY", help="Require this Bearer key (or set SIMVEC_API_KEY)."
    ),
    api_keys_file: Path = typer.Option(None, "--api-keys-file", help="File with one accepted key per line."),
    max_batch: int = typer.Option(256, help="Texts per model batch (dynamic batching)."),
    max_wait_ms: float = typer.Option(5.0, help="How long a request waits for others to batch with."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve OpenAI-compatible /v1/embeddings, /v1/similarity and collections over HTTP."""
    from simvec.server import Limits, ServerConfig, create_app
    from simvec.server.config import read_api_keys
    from simvec.server.serving import run

    keys = () if api_key is None else (api_key,)  # an empty --api-key is refused by ServerConfig, not ignored
    if api_keys_file is not None:
        keys += read_api_keys(api_keys_file)
    config = ServerConfig(
        collections_dir=collections,
        model=model,
        api_keys=keys,
        limits=Limits(max_batch=max_batch, max_wait_ms=max_wait_ms),
    )
    typer.echo(f"simvec: serving on http://{host}:{port} ({'API key required' if keys else 'no API key'})", err=True)
    run(create_app(config), host, port, log_level)
