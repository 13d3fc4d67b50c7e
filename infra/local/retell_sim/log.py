"""The simulator's log: one line per request and per delivery attempt, to stderr, with phone
numbers masked to their last 3 digits."""

from __future__ import annotations

import queue
import re
import sys
import threading
import time
from typing import Any

PHONE_IN_TEXT = re.compile(r"(?:%2[bB]|\+)\d{4,15}|(?<![0-9A-Za-z_])\d{9,15}(?![0-9A-Za-z_])")


def mask(text: str) -> str:
    """Phone numbers in a log line down to their last 3 digits."""
    return PHONE_IN_TEXT.sub(lambda m: "***" + m.group(0)[-3:], text)


class SimLog:
    """Writes log lines to `stream` (None: whatever sys.stderr is when a line is written).

    queued (the command line): lines go through a bounded queue to a writer thread, so a parent
    process that never drains our stderr pipe loses log lines instead of freezing every request.
    In-process, lines are written at once (test output captures them)."""

    def __init__(self, stream: Any = None, queued: bool = False):
        self._stream = stream
        self._queue: queue.Queue[str | None] | None = None
        self._writer: threading.Thread | None = None
        if queued:
            self._queue = queue.Queue(maxsize=10_000)
            self._writer = threading.Thread(target=self._write_queued, name="retell-sim-log", daemon=True)
            self._writer.start()

    def __call__(self, line: str) -> None:
        text = f"retell-sim {time.strftime('%H:%M:%S')} {mask(line)}"
        if self._queue is None:
            self._print(text)
            return
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            pass

    def close(self) -> None:
        """Lets the writer flush what is queued, but never hangs on a stuck stderr."""
        if self._queue is not None and self._writer is not None:
            try:
                self._queue.put(None, timeout=1)
                self._writer.join(timeout=2)
            except queue.Full:
                pass

    def _print(self, text: str) -> None:
        try:
            print(text, file=self._stream or sys.stderr, flush=True)
        except (OSError, ValueError):
            pass

    def _write_queued(self) -> None:
        assert self._queue is not None
        while (text := self._queue.get()) is not None:
            self._print(text)
