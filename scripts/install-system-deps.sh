#!/usr/bin/env bash
# System packages the test suite needs: Debian's docker-compose, which validates
# docker-compose.yml (no Docker engine is required). Installed with apt when missing.
set -euo pipefail
command -v docker-compose >/dev/null 2>&1 && exit 0
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends docker-compose
