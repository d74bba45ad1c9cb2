"""Content hashes: of files (the manifest's digests) and of an asset's sources (its Dagster code version).

An asset's ``code_version`` is the hash of the files it is made from — its spec files and the
modules of its derivation and wiring — so the UI shows an asset stale after a change to any of
them, and only those assets. The manifest hashes its files with the same functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHUNK = 1 << 20
SOURCES_KEY = "pipeline/code_sources"  # asset metadata: the sources its code_version hashes


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def files_sha256(files: Iterable[Path], root: Path) -> str:
    """One sha256 over files: of the lines ``<sha256>  <path relative to root>``, in the given order."""
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def source_files(sources: Iterable[str], root: Path = REPO) -> list[Path]:
    """Files named by ``sources`` (paths or glob patterns relative to ``root``), sorted, each once."""
    found: set[Path] = set()
    for pattern in sources:
        found.update(p for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def code_version(sources: Iterable[str], root: Path = REPO) -> str:
    """The code version of an asset made from ``sources`` (see ``source_files``): 16 hex digits of
    ``files_sha256``. Deterministic; changes when any of those files changes, or one is added or removed."""
    return files_sha256(source_files(sources, root), root)[:16]


def dataset_sources(spec_layer: str, name: str, build_module: str) -> tuple[str, ...]:
    """Sources of an SDTM or ADaM dataset asset: its spec, the module of its ``build``, the layer's
    shared helpers and the wiring every dataset asset shares (schemas from specs, the asset shape)."""
    module = build_module.replace(".", "/") + ".py"
    layer = module.rsplit("/", 1)[0]
    return (
        f"specs/{spec_layer}/{name.lower()}.yaml",
        module,
        f"{layer}/common.py",
        "pipeline/dataset_assets.py",
        "pipeline/schemas.py",
    )
