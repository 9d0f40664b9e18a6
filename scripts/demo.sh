#!/usr/bin/env bash
# The README's main-job command: installs what is needed, then runs the demo on the built-in seed site.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/airlock.js demo "$@"
