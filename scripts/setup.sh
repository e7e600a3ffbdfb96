#!/usr/bin/env bash
# Idempotent set-up: the project virtualenv, Label Studio in its own virtualenv, and the
# services the scale-out mode and the tests use. Safe to run again: it reuses what exists.
#   --project   only the project virtualenv (enough for `make lint` and `make test-fast`)
#   --services  also start Redis and PostgreSQL, install Chromium and build the real-model tier
#               (scripts/setup_llama.sh): what `make test` needs
set -euo pipefail
cd "$(dirname "$0")/.."

LS_VERSION=1.23.2
LSAGENT_HOME=${LSAGENT_HOME:-$HOME/.cache/lsagent}
LS_VENV=${LSAGENT_LS_VENV:-$LSAGENT_HOME/ls-$LS_VERSION}
PYTHON=${PYTHON:-python3}
PIP_FLAGS=(--quiet --disable-pip-version-check)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -x .venv/bin/python ]; then
  say "creating the project virtualenv (.venv)"
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing the project and its pinned requirements into .venv (about 1-2 minutes the first time)"
  .venv/bin/pip install "${PIP_FLAGS[@]}" -r requirements.txt
  .venv/bin/pip install "${PIP_FLAGS[@]}" --no-deps -e .
  touch .venv/.installed
fi
[ "${1:-}" = "--project" ] && exit 0

if [ ! -f "$LS_VENV/.installed" ]; then
  say "installing Label Studio $LS_VERSION in its own virtualenv ($LS_VENV; about 1 GB, 2-5 minutes the first time)"
  mkdir -p "$LSAGENT_HOME"
  "$PYTHON" -m venv "$LS_VENV"
  "$LS_VENV/bin/pip" install "${PIP_FLAGS[@]}" "label-studio==$LS_VERSION"
  touch "$LS_VENV/.installed"
fi

if [ "${1:-}" = "--services" ]; then
  # The real-model test tier: llama-cpp-python's server and SmolLM2-135M (first run: a C++ build).
  bash scripts/setup_llama.sh
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  for _ in $(seq 30); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 1
  done
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    say "installing Chromium and its driver with apt (tests render the report and drive Label Studio's web app in it; about 1-2 minutes)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
