#!/usr/bin/env bash
# Runs a command with Node 24 first on PATH (npm scripts use it, so `npm test` works where the system Node is
# older). Installs Node 24 from the npm registry on first use.
set -euo pipefail
# shellcheck source=scripts/node24-env.sh
source "$(dirname "$0")/node24-env.sh"
exec "$@"
