"""Builds that say what they do: one line saying what is prepared and why, a progress indication, a finish line.

Exporting and quantising a model takes up to a minute and the libraries doing it (torch.onnx, transformers,
ONNX Runtime's quantiser, NNCF) print warnings, log records and progress bars meant for their own developers.
`preparing` wraps one build: it says what is being prepared before it starts and, unless verbose
(`SIMVEC_VERBOSE=1`, `simvec --verbose`), captures that output and replays it into the "simvec" logger at DEBUG
(at WARNING when the build fails: then it is the diagnosis). The capture is process-wide for the build's
duration (sys.stdout/sys.stderr, warnings, the root and the libraries' loggers), so a build runs alone, as it
does when an `Encoder` is constructed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

VERBOSE_ENV = "SIMVEC_VERBOSE"
log = logging.getLogger("simvec")

# Loggers of the libraries a build runs that print on their own (own handler, no propagation) besides the root.
THIRD_PARTY_LOGGERS = ("transformers", "torch", "onnxruntime", "onnx", "nncf", "openvino", "huggingface_hub")

# Why each kind of artefact is built and how long it takes: measured on the 2-core AVX2 EPYC of issue 25 at load 4-8
# (onnx 9-22 s, onnx-int8 19 s after it, openvino-int8 108 s, static 192 s, while other tests shared its 2 cores).
PURPOSES = {
    "onnx": ("the model converted for ONNX Runtime, faster than torch on a CPU", "about 20 s"),
    "onnx-int8": ("an int8 copy of the model for this CPU, calibrated on simvec's texts", "about 20 s"),
    "openvino-int8": ("an int8 copy of the model for OpenVINO, calibrated on simvec's texts", "about a minute"),
    "static": ("a table of one vector per token distilled from the model", "one to three minutes"),
    # auto's whole decision (encoders/auto.py): the graphs it builds inside are recorded, not announced again
    "auto": ("the runtime the CPU rule picks, built and checked against torch on simvec's texts", "about a minute"),
}


@dataclass(frozen=True)
class Prepared:
    """One artefact built in this process: what it is, where it is cached, how long it took."""

    kind: str
    describe: str
    path: Path
    seconds: float


_prepared: list[Prepared] = []
_depth = 0  # a build inside a build is already quiet and announced by the outer one


def verbose() -> bool:
    """True when third-party output should be let through ($SIMVEC_VERBOSE set to 1/true/yes)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def prepared_in_this_process() -> list[Prepared]:
    """Every artefact built by this process so far, oldest first (`simvec prepare` reports the new ones)."""
    return list(_prepared)


@contextlib.contextmanager
def preparing(kind: str, describe: str, path: Path) -> Iterator[None]:
    """Announce a build of `describe` (an artefact of `kind` cached at `path`), quiet its libraries, time it."""
    global _depth
    if _depth:  # inside an announced build (auto's check building its graph): recorded, not announced again
        started = time.perf_counter()
        yield
        _prepared.append(Prepared(kind, describe, path, time.perf_counter() - started))
        return
    stderr = sys.stderr
    why, estimate = PURPOSES.get(kind, ("", "a few minutes at most"))
    print(
        f"simvec: preparing the {describe}{f', {why}' if why else ''} (once per model on this machine, {estimate})…",
        file=stderr,
        flush=True,
    )
    started = time.perf_counter()
    _depth += 1
    try:
        with _progress(stderr), _quiet_unless_verbose(describe):
            yield
    except BaseException:
        print(f"simvec: preparing the {describe} failed after {time.perf_counter() - started:.1f} s", file=stderr)
        raise
    finally:
        _depth -= 1
    seconds = time.perf_counter() - started
    _prepared.append(Prepared(kind, describe, path, seconds))
    print(f"simvec: prepared the {describe} in {seconds:.1f} s (cached in {path})", file=stderr, flush=True)


@contextlib.contextmanager
def _progress(stream: TextIO) -> Iterator[None]:
    """A spinner with the elapsed time in a terminal (not in CI logs, not when verbose output interleaves)."""
    if verbose() or not stream.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # redirect_*=False: the build's own output is captured by _quiet_unless_verbose, not printed above the bar
    with Progress(
        SpinnerColumn(),
        TextColumn("simvec: preparing"),  # the line above says what; this one must fit a narrow terminal
        BarColumn(bar_width=24),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        progress.add_task("build", total=None)
        yield


@contextlib.contextmanager
def _quiet_unless_verbose(describe: str) -> Iterator[None]:
    if verbose():
        yield
        return
    output = io.StringIO()
    records = _RecordKeeper()
    failed = False
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        stack.enter_context(_loggers_to(records))
        stack.enter_context(_hf_progress_bars_off())
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            stack.close()  # restore every stream and logger before replaying into them
            _replay(describe, caught, records.records, output.getvalue(), logging.WARNING if failed else logging.DEBUG)


class _RecordKeeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _loggers_to(handler: logging.Handler) -> Iterator[None]:
    """The root's and the libraries' handlers swapped for `handler` (a root with a handler is never basicConfig'd).

    ONNX Runtime's quantiser logs on the root logger, whose first record would otherwise install a stderr
    handler for the rest of the process; transformers and NNCF have handlers of their own and do not propagate.
    """
    saved = []
    for name in ("", *THIRD_PARTY_LOGGERS):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [handler]
        logger.propagate = False
    try:
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate


@contextlib.contextmanager
def _hf_progress_bars_off() -> Iterator[None]:
    """transformers' and huggingface_hub's tqdm bars ("Loading weights") off, as they were after."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _replay(
    describe: str, caught: list[warnings.WarningMessage], records: list[logging.LogRecord], output: str, level: int
) -> None:
    for warning in caught:
        text = warnings.formatwarning(warning.message, warning.category, warning.filename, warning.lineno)
        log.log(level, "while preparing the %s: %s", describe, text.rstrip())
    for record in records:
        if record.name == "simvec" or record.name.startswith("simvec."):
            logging.getLogger(record.name).handle(record)  # simvec's own records keep their level
        else:
            log.log(
                level, "while preparing the %s: %s:%s: %s", describe, record.levelname, record.name, record.getMessage()
            )
    if output.strip():
        log.log(level, "output while preparing the %s:\n%s", describe, output.rstrip())
