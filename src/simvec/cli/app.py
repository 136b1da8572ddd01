"""The root Typer app and the options every command shares."""

from __future__ import annotations

import json
import os
import sys

import typer

from simvec.encoders.backends import CONCRETE_BACKENDS
from simvec.encoders.quiet import VERBOSE_ENV

app = typer.Typer(
    name="simvec",
    help="simvec: embed, compare, store, search and evaluate text embeddings, locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Evaluate embeddings on standard benchmarks.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

ModelOption = typer.Option(None, "--model", "-m", help="Model directory (default: bundled all-MiniLM-L6-v2).")
JsonOption = typer.Option(False, "--json", help="Print JSON.")
BackendOption = typer.Option(
    "auto",
    "--backend",
    "-b",
    help=f"auto (the fastest within tolerance of torch, measured once per machine), {', '.join(CONCRETE_BACKENDS)}.",
)


@app.callback()
def main_options(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Let other libraries' warnings, logs and progress bars through while a model is prepared.",
    ),
) -> None:
    """simvec: embed, compare, store, search and evaluate text embeddings, locally."""
    if verbose:  # read where a build runs (simvec.encoders.quiet), in this process and in its children
        os.environ[VERBOSE_ENV] = "1"


def print_json(payload: object) -> None:
    """Print JSON to stdout (the machine-readable form every command offers)."""
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
