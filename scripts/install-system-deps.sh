#!/usr/bin/env bash
# System packages the test suite needs, installed with apt when missing:
# docker-compose validates docker-compose.yml (no Docker engine is required);
# redis-server backs the shared fetch-politeness tests (the tests start their own);
# chromium is the headless browser Playwright drives in the runs report and Airflow view tests;
# faketime sets a real Airflow stack's clock back, to simulate hours of scheduler outage.
set -euo pipefail
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
