#!/usr/bin/env bash
# Install what the pipeline needs on Debian/Ubuntu: GNU Octave and OpenBLAS
# from the distribution's packages, and a Python virtual environment (.venv) with
# requirements.txt (plus requirements-test.txt with --test).
# Usage: ./setup.sh [--test]      (root, or a user with sudo)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=()
command -v octave-cli >/dev/null 2>&1 || command -v octave >/dev/null 2>&1 || packages+=(octave)
# An optimised BLAS for Octave (Debian's alternatives switch to it on install):
# step 4 projects every clip on the sensors, ~5x faster than the reference BLAS.
if command -v dpkg-query >/dev/null 2>&1 && \
   ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
  packages+=(libopenblas0-pthread)
fi
if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
  packages+=("python3-venv")
fi
if [ "${#packages[@]}" -gt 0 ]; then
  echo "setup: installing ${packages[*]} from the distribution's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
reqs=(-r requirements.txt)
[ "$want_tests" = 1 ] && reqs=(-r requirements-test.txt)
echo "setup: installing Python packages into .venv (${reqs[*]})"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${reqs[@]}"
echo "setup: ready ($(.venv/bin/python --version), $( (command -v octave-cli || command -v octave) ))"
