#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: unit, transcript and integration, with node:test;
# then the integration tests again with two event loops per server (SSLSERVER_WORKERS=2), so that
# both the default count on this machine and the multi-loop path stay green.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node --test dist/
SSLSERVER_WORKERS=2 node --test dist/test/integration/
