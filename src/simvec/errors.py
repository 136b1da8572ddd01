"""The exceptions simvec raises on purpose, so callers (and the CLI) can tell them from bugs."""


class SimvecError(Exception):
    """Base class: a problem with the caller's input, files or configuration."""


class ModelLoadError(SimvecError, FileNotFoundError):
    """A model path is missing or is not a sentence-transformers model directory."""


class InputFileError(SimvecError, ValueError):
    """An input file cannot be read: names the file, and the line when there is one."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line
