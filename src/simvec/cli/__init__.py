"""The `simvec` command line: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from simvec.cli import adapt as _adapt  # noqa: F401
from simvec.cli import cache as _cache  # noqa: F401
from simvec.cli import classify as _classify  # noqa: F401
from simvec.cli import cluster as _cluster  # noqa: F401
from simvec.cli import collection as _collection  # noqa: F401
from simvec.cli import compress as _compress  # noqa: F401
from simvec.cli import dedup as _dedup  # noqa: F401

# Importing the command modules registers their commands on `app`.
from simvec.cli import embed as _embed  # noqa: F401
from simvec.cli import evaluate as _evaluate  # noqa: F401
from simvec.cli import mine as _mine  # noqa: F401
from simvec.cli import pairs as _pairs  # noqa: F401
from simvec.cli import prepare as _prepare  # noqa: F401
from simvec.cli import relevance as _relevance  # noqa: F401
from simvec.cli import serve as _serve  # noqa: F401
from simvec.cli.app import app
from simvec.errors import STORAGE_ERRNOS, SimvecError


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        code = app(args=argv, prog_name="simvec", standalone_mode=False)
    except typer.Abort:
        print("simvec: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # typer vendors click: its usage errors derive from this
        if not hasattr(exc, "show"):
            raise
        exc.show()
        sys.exit(getattr(exc, "exit_code", 2))
    except SimvecError as exc:
        print(f"simvec: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"simvec: error: {exc.strerror}{where}", file=sys.stderr)
        sys.exit(1)
    if code == 130:  # Typer turns Ctrl-C into this exit code, silently
        print(
            "simvec: interrupted. Documents a collection had committed are kept (run the same command again to "
            "finish: unchanged ones are skipped); output files are only written when a command finishes.",
            file=sys.stderr,
        )
    sys.exit(code if isinstance(code, int) else 0)
