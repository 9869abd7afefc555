#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: unit, transcript and integration, with node:test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --test dist/
