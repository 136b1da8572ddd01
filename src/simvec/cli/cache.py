"""`simvec cache info|clear`: the persistent embedding cache (see simvec.encoders.cache)."""

from __future__ import annotations

from pathlib import Path

import typer

from simvec.cli.app import JsonOption, app, print_json

cache_app = typer.Typer(help="Inspect or clear the persistent embedding cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

PathOption = typer.Option(None, "--path", help="Cache file (default: $SIMVEC_CACHE_DIR/embeddings.sqlite).")


def _open(path: Path | None):
    from simvec.encoders.cache import EmbeddingCache, default_cache_path

    path = path or default_cache_path()
    if not path.is_file():
        return None, path
    return EmbeddingCache(path), path


@cache_app.command("info")
def cache_info(path: Path = PathOption, as_json: bool = JsonOption) -> None:
    """Where the cache is, its size, and how many embeddings it holds per model and backend."""
    cache, path = _open(path)
    details = cache.info() if cache else {"path": str(path), "bytes": 0, "entries": 0, "namespaces": []}
    if as_json:
        print_json(details)
        return
    typer.echo(f"cache: {details['path']}" + ("" if cache else " (not created yet)"))
    typer.echo(f"size: {details['bytes'] / 1e6:.1f} MB, {details['entries']} embeddings")
    for ns in details["namespaces"]:
        typer.echo(f"  {ns['entries']:>9}  {ns['model']}  backend={ns['backend']}  dim={ns['dimension']}")


@cache_app.command("clear")
def cache_clear(
    path: Path = PathOption,
    model: str = typer.Option(None, "--model", "-m", help="Only this model id's entries (default: all)."),
) -> None:
    """Delete cached embeddings (all, or one model's)."""
    cache, path = _open(path)
    deleted = cache.clear(model) if cache else 0
    typer.echo(f"deleted {deleted} cached embeddings from {path}")
