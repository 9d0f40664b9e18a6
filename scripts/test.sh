#!/usr/bin/env bash
# The README's test command: installs what is needed, then runs the fast suite and the lab/e2e suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
npm run test:e2e
