"""Atomic file replacement: readers see the old file or the new one, never a partial one; and the cleaning of the
temporary files that interrupted writers left behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically: an interrupted command leaves the old file or none."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Let `write` fill a temporary file beside `path`, fsync it, rename it over `path`, and fsync the directory."""
    # ".<name>.<pid>.<counter>.tmp": the writer's pid tells `clean_orphans` whether the file is still being written
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(write):x}.tmp")
    try:
        with tmp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_orphans(directory: Path) -> list[str]:
    """Delete the temporary files that interrupted atomic writes left (their writer is gone); returns their names."""
    removed = []
    for tmp in directory.glob(".*.tmp"):
        parts = tmp.name.split(".")  # "", name..., pid, counter, "tmp"
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is not None and (pid == os.getpid() or _pid_alive(pid)):
            continue  # a live writer (this process included: another thread) may be writing it right now
        try:
            tmp.unlink()
            removed.append(tmp.name)
        except OSError:  # a read-only directory: leave it, it is not counted anyway
            pass
    return removed
