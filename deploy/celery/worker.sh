#!/usr/bin/env bash
# Start a dagster-celery worker with the project's environment: deploy/celery/worker.sh [NAME] [CONCURRENCY]
# dagster-celery starts `celery` by name, so the bin folder of the Python that has it goes on PATH
# first (a venv that is not activated is not on PATH). Needs DAGSTER_HOME, DAGSTER_PG_URL,
# DAGSTER_CELERY_BROKER_URL, DAGSTER_CELERY_BACKEND_URL and the PIPELINE_* folders.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
bin="$(dirname "$python")"
[ -x "$bin/celery" ] || { echo "worker.sh: $bin/celery not found; run make install (the [distributed] extra)" >&2; exit 1; }
export PATH="$bin:$PATH"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
# A clear message naming the setting when Postgres is not there, instead of 13 s of retries.
"$python" -m pipeline.ops.instance check
exec "$bin/dagster-celery" worker start -A dagster_celery.app -y "$here/worker.yaml" \
  -n "${1:-dagster}" -- --concurrency="${2:-1}" --without-gossip --without-mingle
