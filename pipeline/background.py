"""Files written by a background thread while the next steps of a run compute.

Inside ``background_writes()`` (``pipeline.runner.execute`` opens it around a run) ``submit(path,
fn, ...)`` hands a write to one writer thread and returns at once; ``wait_for(path)`` returns when
that file is complete, and ``wait_all()`` when every submitted file is. Outside the block
``submit`` writes at once, so code that never opens it (Dagster's own run workers, tests) behaves
as before. An error in a background write is raised where the file is waited for, or when the
block ends.

Why: once the page cache's dirty limit is reached this machine's disk takes ~400 MB/s, and a
100,000-subject run writes ~6 GB (work folder and deliverables); each write blocked its step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_WRITER: ThreadPoolExecutor | None = None
_PENDING: dict[str, Future] = {}


@contextlib.contextmanager
def background_writes() -> Iterator[None]:
    """Write submitted files in a background thread while the block runs (see the module doc)."""
    global _WRITER
    if _WRITER is not None:  # nested: the outer block owns the writer
        yield
        return
    _WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-writer")
    try:
        yield
    finally:
        writer, _WRITER = _WRITER, None
        writer.shutdown(wait=True)
        wait_all()


def submit(path: Any, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)``, the write of ``path``: in the writer thread inside the block, else now.
    A pending write of the same path finishes first."""
    wait_for(path)
    if _WRITER is None:
        fn(*args)
    else:
        _PENDING[os.fspath(path)] = _WRITER.submit(fn, *args)


def wait_for(path: Any) -> None:
    """Return once a background write of ``path`` (if any) has finished; raise its error."""
    fut = _PENDING.pop(os.fspath(path), None)
    if fut is not None:
        fut.result()


def wait_all() -> None:
    """Return once every submitted write has finished; raise the first error."""
    pending = list(_PENDING.values())
    _PENDING.clear()
    for fut in pending:
        fut.result()
