"""The submission package is published as one unit: built in a staging folder, switched in whole.

A run never writes into ``--out`` itself. Its assets write into a staging folder next to it,
``<parent>/.<name>.staging-<run id>``, which starts as a copy of the package published last
(hard links: every output is written to a temporary name and renamed, so a linked file is
replaced, never changed in place). The last step, the manifest, hashes the staging folder
and :func:`publish` switches it in with one atomic exchange of the two folders
(``renameat2(RENAME_EXCHANGE)`` on Linux). Readers of ``--out`` therefore see the previous
complete package or the new complete one, each consistent with its ``manifest.json``; a run
that fails or is killed publishes nothing, and its staging folder is removed by the next run.

Also here: the layout refusals checked before anything is written (:func:`refusal`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

STAGING_MARK = ".staging-"
_OLD_MARK = ".old-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class PublishError(RuntimeError):
    """The staging folder could not be switched in; the published package is unchanged."""


def published_dir(out_dir: Path) -> Path:
    """The folder readers use (``--out``), with links resolved so staging sits beside the real folder."""
    return Path(out_dir).expanduser().resolve()


def staging_dir(out_dir: Path, run_id: str) -> Path:
    """Where run ``run_id`` builds the package that replaces ``out_dir``."""
    out = published_dir(out_dir)
    return out.parent / f".{out.name}{STAGING_MARK}{run_id}"


def stale_staging(out_dir: Path, keep: str | None = None) -> list[Path]:
    """Staging (and half-removed old) folders of ``out_dir`` other than run ``keep``'s."""
    out = published_dir(out_dir)
    if not out.parent.is_dir():
        return []
    own = staging_dir(out, keep).name if keep else None
    marks = (f".{out.name}{STAGING_MARK}", f".{out.name}{_OLD_MARK}")
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(marks) and p.name != own)


def remove_stale_staging(out_dir: Path, keep: str | None = None) -> list[Path]:
    """Remove what killed or failed runs left beside ``out_dir`` (runs of one study are serialised,
    so no other run is using them); returns the folders removed."""
    gone = stale_staging(out_dir, keep)
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system or one without hard links
        shutil.copy2(src, dst)


def live_staging(out_dir: Path, is_live: Callable[[str], bool], keep: str | None = None) -> list[str]:
    """Run ids of other runs whose staging folder of ``out_dir`` exists and that ``is_live`` says are running."""
    ids = [p.name.rsplit(STAGING_MARK, 1)[-1] for p in stale_staging(out_dir, keep) if STAGING_MARK in p.name]
    return [i for i in ids if "." not in i and is_live(i)]


def open_staging(out_dir: Path, run_id: str, is_live: Callable[[str], bool] | None = None) -> Path:
    """The staging folder of run ``run_id``, created on first use as a copy of the published package.

    Safe to call from every step process of a run: the copy is made under a private name and
    renamed into place, and a process that finds it already made uses it. Stale staging
    folders of other runs are removed when the folder is first made; ``is_live(run_id)``
    tells whether another run is still going (Dagster's run status), and then this run stops
    (PublishError) before writing anything: one run of a study writes ``out_dir`` at a time.
    """
    out = published_dir(out_dir)
    stage = staging_dir(out, run_id)
    if stage.is_dir():
        return stage
    busy = live_staging(out, is_live, keep=run_id) if is_live else []
    if busy:
        raise PublishError(f"run {busy[0]} is writing {out_dir}; this run ({run_id}) stopped before writing anything")
    remove_stale_staging(out, keep=run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage.with_name(f"{stage.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if out.is_dir():
        # Hidden temporary files of an interrupted write are not part of the package.
        shutil.copytree(out, tmp, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(".*.tmp"))
    else:
        tmp.mkdir()
    try:
        os.rename(tmp, stage)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if not stage.is_dir():  # not a lost race with another step process
            raise PublishError(f"{stage}: cannot create the staging folder ({e})") from None
    return stage


def _exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` in one step; False where the system cannot (not Linux, old kernel, FS)."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def publish(stage: Path, out_dir: Path) -> Path:
    """Switch the complete package in ``stage`` in as ``out_dir``; returns ``out_dir``.

    With an atomic exchange readers never see a missing or mixed folder. Where the system has
    none, the old folder is renamed aside and the new one renamed in (two renames: for an
    instant ``out_dir`` is absent, never mixed). The previous package is then deleted.
    """
    out = published_dir(out_dir)
    stage = Path(stage)
    if not stage.is_dir():
        raise PublishError(f"{stage}: no staging folder to publish")
    try:
        if not out.exists():
            os.rename(stage, out)
            return out
        if _exchange(stage, out):
            shutil.rmtree(stage, ignore_errors=True)  # after the exchange it holds the previous package
            return out
        old = out.parent / f".{out.name}{_OLD_MARK}{stage.name.rsplit(STAGING_MARK, 1)[-1]}"
        os.rename(out, old)
        os.rename(stage, out)
    except OSError as e:
        raise PublishError(f"{out}: the new package could not be switched in ({e}); the published package is unchanged") from None
    shutil.rmtree(old, ignore_errors=True)
    return out


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or lies under it (both resolved)."""
    return a == b or a.is_relative_to(b)


def holds_export(raw_dir: Path, siteids, file_formats: dict[str, str], forms) -> bool:
    """True when ``raw_dir`` holds at least one ``<siteid>/<form>.<format>`` file of a declared site."""
    for s in siteids:
        for f in forms:
            if (Path(raw_dir) / s / f"{f}.{file_formats[s]}").is_file():
                return True
    return False


def refusal(raw_dir: Path, out_dir: Path, work_dir: Path | None) -> str | None:
    """Why a run over these folders must not start (checked before anything is written); None if it may.

    Refused: a raw folder that does not exist or holds no export; ``--out`` inside ``--raw``
    (the package would land in the export folder and the next drop would fail on it); ``--raw``
    inside ``--out`` (publishing replaces ``--out`` as a whole); ``--work`` inside ``--out``
    (intermediates hold raw identifiers: names, initials, birth dates) or inside ``--raw``.
    """
    from pipeline.specs.raw import load_raw_spec

    raw, out = Path(raw_dir).resolve(), published_dir(out_dir)
    if not raw.is_dir():
        return f"the raw export folder {raw_dir} does not exist"
    spec = load_raw_spec()
    if not holds_export(raw, spec.sites, {s: v.file_format for s, v in spec.sites.items()}, spec.forms):
        return (
            f"the raw folder {raw_dir} holds no export (no <siteid>/<form>.csv|xlsx of a site in "
            f"specs/raw/sites.yaml); nothing was run and {out_dir} is untouched"
        )
    if _inside(out, raw):
        return f"--out {out_dir} lies inside the raw folder {raw_dir}: deliverables must not be written into the site exports"
    if _inside(raw, out):
        return f"--raw {raw_dir} lies inside --out {out_dir}: the output folder is replaced as a whole when a run publishes"
    if work_dir is not None:
        work = Path(work_dir).resolve()
        if _inside(work, out):
            return (
                f"--work {work_dir} lies inside --out {out_dir}: intermediate values hold raw identifiers "
                f"(names, initials, birth dates) and must never be part of the deliverables"
            )
        if _inside(work, raw):
            return f"--work {work_dir} lies inside the raw folder {raw_dir}: intermediates would be read as part of the export"
    return None
