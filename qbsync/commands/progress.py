"""A progress line on stderr for long work (`stage`): only on a terminal, never in a pipe or a log.

It wraps the lines a command reads: counts lines and bytes against the input's size when the input
is a file (a bar with the percent), and says when the reading is done and the writing begins.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

_REDRAW_SECONDS = 0.1
_BAR_WIDTH = 24


def wanted(stream: IO[str] | None = None) -> bool:
    """Whether to show progress: stderr is a terminal and the command is not --quiet."""
    from qbsync.commands.messages import quiet

    stream = stream or sys.stderr
    return not quiet() and stream.isatty()


def input_size(handle: Any) -> int | None:
    """The size in bytes of what `handle` reads, when it is a regular file (also stdin
    redirected from one); None for a pipe or a terminal."""
    try:
        info = os.fstat(handle.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def line_count(n: int) -> str:
    return f"{n:,} line{'' if n == 1 else 's'}"


class Progress:
    """One line, redrawn in place with \\r, at most every 0.1 s; `close()` erases it."""

    def __init__(self, label: str, total_bytes: int | None = None, stream: IO[str] | None = None):
        self.label = label
        self.total = total_bytes or None
        self.stream = stream or sys.stderr
        self.lines = 0  # read so far
        self.bytes = 0
        self._drawn_at = 0.0
        self._shown = False

    def read(self, lines: Iterable[str]) -> Iterator[str]:
        """`lines`, counted as they go; when they run out, the write phase is shown."""
        for line in lines:
            self.lines += 1
            self.bytes += len(line.encode("utf-8", "surrogatepass"))
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_SECONDS:
                self._drawn_at = now
                self._draw(self._reading())
            yield line
        self._draw(f"{self.label}: read {line_count(self.lines)} ({megabytes(self.bytes)}); writing to the store...")

    def _reading(self) -> str:
        counted = line_count(self.lines)
        if self.total is None:
            return f"{self.label}: reading... {megabytes(self.bytes)}, {counted}"
        share = min(self.bytes / self.total, 1.0)
        done = int(share * _BAR_WIDTH)
        bar = "#" * done + "-" * (_BAR_WIDTH - done)
        return f"{self.label} [{bar}] {share:4.0%}  {megabytes(self.bytes)} of {megabytes(self.total)}, {counted}"

    def _draw(self, text: str) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r\033[K" + text[: max(width - 1, 10)])
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False
