#!/usr/bin/env bash
# The two commands of DeepLens on a fresh Debian machine:
#
#   ./deeplens.sh up [-- options of npm run up]   runs DeepLens (the local stack and every process)
#   ./deeplens.sh test [filters…]                  typecheck, lint and every test tier (what CI runs)
#
# Both first install what is missing, and only that: the Debian packages the stack needs
# (scripts/install-prerequisites.sh), Node.js and npm from Debian when the machine has no npm,
# then the npm dependencies when package-lock.json changed since the last install — which brings the
# project's own Node.js 24 (the `node` package) and converts the default model. Every npm script
# then runs on that Node.js 24, whatever Node.js runs npm itself.
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  up | test) ;;
  *)
    echo "usage: ./deeplens.sh up [-- options of npm run up] | ./deeplens.sh test [test file filters…]" >&2
    exit 2
    ;;
esac

bash scripts/install-prerequisites.sh

# After each `npm ci` the lockfile's hash is kept in node_modules; while it matches, the
# installed tree is the locked one and `npm ci` (which deletes node_modules first) is skipped.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -x node_modules/.bin/node ] || [ "$(cat node_modules/.deeplens-lock 2>/dev/null)" != "$lock_hash" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "deeplens: installing Node.js and npm from Debian's packages (only to run npm once)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "deeplens: installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.deeplens-lock
fi

case "$command" in
  up) exec npm run up -- "$@" ;;
  test)
    npm run typecheck
    npm run lint
    exec npm test -- "$@"
    ;;
esac
