#!/usr/bin/env bash
# Start the MLflow tracking server and UI for searches: SQLite backend store, artifacts served by the server.
#   mlflow/server.sh                 # http://127.0.0.1:5000, store in mlflow/mlflow.db, artifacts in mlflow/artifacts
#   MLFLOW_HOST=0.0.0.0 MLFLOW_PORT=5000 mlflow/server.sh   # shared server for a cluster (put it behind your own auth)
#   MLFLOW_PYTHON=.venv/bin/python mlflow/server.sh         # the MLflow of that interpreter (default: python3 on PATH)
# Searches then log to it with: python -m search.run --tracking-uri http://HOST:PORT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${MLFLOW_PYTHON:-python3}" -m mlflow server \
  --host "${MLFLOW_HOST:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}" \
  --backend-store-uri "${MLFLOW_BACKEND:-sqlite:///$here/mlflow.db}" \
  --artifacts-destination "${MLFLOW_ARTIFACTS:-$here/artifacts}" --serve-artifacts
