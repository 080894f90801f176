"""A gzip-compressed export's bytes, decompressed as they are read (readers.open_binary)."""

import gzip
import io
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Decompressed(io.BufferedIOBase):
    """A gzip file's bytes, where a file cut short or corrupt reads as one that ends there: the
    reason is kept in ``problem`` (RowReader reports it as a last rejected row), so the rows before
    it are imported as from any file, not lost to an exception mid-import."""

    def __init__(self, path: str | Path):
        with open(path, "rb") as raw:
            if raw.read(2) != b"\x1f\x8b":
                raise OSError(f"{Path(path).name} is not gzip-compressed, though its name ends in .gz")
        self._file = gzip.open(path, "rb")  # noqa: SIM115 - closed by close()
        self.problem = ""

    def _guard(self, read: Callable[..., bytes], *args: Any) -> bytes:
        if self.problem:
            return b""
        try:
            return read(*args)
        except (OSError, EOFError, zlib.error) as e:
            self.problem = f"the compressed file is cut short or corrupt here: {e}"
            return b""

    def read(self, size: int | None = -1) -> bytes:
        return self._guard(self._file.read, size)

    def read1(self, size: int = -1) -> bytes:
        return self._guard(self._file.read1, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._guard(self._file.readline, size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()
