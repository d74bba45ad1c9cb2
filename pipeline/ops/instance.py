"""The Dagster instance's Postgres storage: its URL from the environment, and a check that it answers.

deploy/{celery,k8s,celery-k8s}/dagster.yaml read ``storage.postgres.postgres_url`` from
``DAGSTER_PG_URL``. Usage::

    export DAGSTER_PG_URL=$(python -m pipeline.ops.instance postgres-url)   # from DAGSTER_PG_*
    python -m pipeline.ops.instance check        # before starting a daemon, webserver or worker

Without the check, an unreachable database surfaces after ~13 s of retries as dagster-postgres's
``too many retries for DB connection``, which names neither the file nor the setting.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlencode


class InstanceStorageError(RuntimeError):
    """The instance's storage setting is missing or its database does not answer."""


def postgres_url(env: Mapping[str, str] | None = None) -> str:
    """Take DAGSTER_PG_HOST, DAGSTER_PG_PORT (default 5432), DAGSTER_PG_DB, DAGSTER_PG_USER,
    DAGSTER_PG_PASSWORD and optional DAGSTER_PG_SSLMODE; return the instance's Postgres URL.

    The driver is named (``postgresql+psycopg2``): with SQLAlchemy 2.1 a bare ``postgresql://``
    (what dagster-postgres's ``postgres_db:`` block builds) means psycopg 3, which
    dagster-postgres does not install and whose server-side parameters break its ``NOTIFY``.
    """
    env = env if env is not None else os.environ
    missing = [v for v in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USER") if not env.get(v)]
    if missing:
        raise InstanceStorageError(f"postgres_url: {', '.join(missing)} not set")
    port = env.get("DAGSTER_PG_PORT") or "5432"
    if not port.isdigit():
        raise InstanceStorageError(f"DAGSTER_PG_PORT={port!r}: expected a port number")
    user = quote(env["DAGSTER_PG_USER"], safe="")
    if env.get("DAGSTER_PG_PASSWORD"):
        user += ":" + quote(env["DAGSTER_PG_PASSWORD"], safe="")
    url = f"postgresql+psycopg2://{user}@{env['DAGSTER_PG_HOST']}:{port}/{quote(env['DAGSTER_PG_DB'], safe='')}"
    if env.get("DAGSTER_PG_SSLMODE"):
        url += "?" + urlencode({"sslmode": env["DAGSTER_PG_SSLMODE"]})
    return url


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def check_instance(home: str | os.PathLike | None = None, env: Mapping[str, str] | None = None, timeout_s: int = 5) -> str:
    """Take DAGSTER_HOME (default: the environment's); return a one-line description of its storage.

    Raises InstanceStorageError naming the file, the setting (``storage.postgres.postgres_url``),
    the variable it reads and the URL without its password when the database does not answer
    within ``timeout_s``. Storage other than Postgres (sqlite under DAGSTER_HOME) is not checked.
    """
    import yaml

    env = env if env is not None else os.environ
    home = Path(home or env.get("DAGSTER_HOME") or "")
    cfg_path = home / "dagster.yaml"
    if not str(home) or not cfg_path.is_file():
        raise InstanceStorageError(f"DAGSTER_HOME={str(home)!r}: no dagster.yaml there")
    storage = (yaml.safe_load(cfg_path.read_text()) or {}).get("storage") or {}
    pg = storage.get("postgres")
    if pg is None:
        return f"{cfg_path}: storage {', '.join(storage) or 'sqlite (default)'}, not checked"
    setting = "storage.postgres.postgres_url"
    url = pg.get("postgres_url")
    if url is None:
        raise InstanceStorageError(
            f"{cfg_path}: {setting} is not set (postgres_db: means psycopg 3 with SQLAlchemy 2.1; see deploy/README.md)"
        )
    var = None
    if isinstance(url, dict):
        var = url.get("env")
        url = env.get(var or "")
        if not url:
            raise InstanceStorageError(f"{cfg_path}: {setting} reads ${var}, which is not set")
    where = f"{cfg_path}: {setting}" + (f" (${var})" if var else "") + f" = {_hide_password(url)}"
    if not url.startswith("postgresql+psycopg2://"):
        raise InstanceStorageError(f"{where}: expected a postgresql+psycopg2:// URL")
    import psycopg2

    try:
        psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1), connect_timeout=timeout_s).close()
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InstanceStorageError(f"{where}: the instance's Postgres does not answer: {first}") from exc
    return f"{where}: answers"


def main(argv: list[str]) -> int:
    try:
        if argv == ["postgres-url"]:
            print(postgres_url())
        elif argv == ["check"]:
            print(check_instance())
        else:
            print("usage: python -m pipeline.ops.instance postgres-url|check", file=sys.stderr)
            return 2
    except InstanceStorageError as exc:
        print(f"instance: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
