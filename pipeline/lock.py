"""One build of a study at a time: the run lock beside ``--out``.

``python -m pipeline run`` takes ``<parent>/.<out name>.lock`` for the whole run: an exclusive
``flock`` on the file, which also records the holder (pid, host, start time, command). The
kernel drops the flock when its process dies, so a lock left by a killed run is known stale
and taken over (the file is rewritten), while a live holder makes the second run refuse with
a message naming it. Dagster runs started from the UI, a schedule or a sensor check the same
lock before they write (``StudyPaths``): they stop if a command-line run holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.publish import published_dir


class LockHeld(RuntimeError):
    """Another live run holds the study's lock."""


@dataclass(frozen=True)
class Holder:
    pid: int | None
    host: str
    started: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}: {self.command}"


def lock_path(out_dir: Path) -> Path:
    out = published_dir(out_dir)
    return out.parent / f".{out.name}.lock"


def _holder(text: str) -> Holder:
    try:
        d = json.loads(text)
        return Holder(int(d["pid"]), str(d.get("host", "?")), str(d.get("started", "?")), str(d.get("command", "?")))
    except (ValueError, KeyError, TypeError):
        return Holder(None, "?", "?", "unreadable lock file")


def _message(path: Path, out_dir: Path, h: Holder) -> str:
    return (
        f"another run is writing {out_dir} ({h.describe()}; lock {path}); "
        f"this run refused before writing anything: wait for it to finish"
    )


@contextlib.contextmanager
def study_lock(out_dir: Path, command: str | None = None) -> Iterator[Holder | None]:
    """Hold the lock of ``out_dir`` for the ``with`` block; yields the stale holder taken over, if any.

    Raises LockHeld naming the live holder.
    """
    path = lock_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_message(path, out_dir, _holder(os.pread(fd, 65536, 0).decode("utf-8", "replace")))) from None
        previous = os.pread(fd, 65536, 0).decode("utf-8", "replace")
        stale = _holder(previous) if previous.strip() else None
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command or " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        try:
            yield stale
        finally:
            os.ftruncate(fd, 0)  # an empty file: released cleanly (a killed run leaves its record: stale)
    finally:
        os.close(fd)  # closing drops the flock


def check_unlocked(out_dir: Path) -> None:
    """Raise LockHeld when a process other than this one holds the lock of ``out_dir``."""
    path = lock_path(out_dir)
    if not path.exists():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        text = os.pread(fd, 65536, 0).decode("utf-8", "replace")
        h = _holder(text) if text.strip() else None
        if h is not None and h.pid == os.getpid():
            return  # this process's own command-line run
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_message(path, out_dir, h or Holder(None, "?", "?", "?"))) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
