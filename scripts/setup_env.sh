#!/usr/bin/env bash
# Creates (or completes) the project's virtual environment with pinned versions.
# Idempotent: pip skips what is already installed, and the Makefile skips this
# script entirely once the stamp file is newer than the requirement files.
set -euo pipefail
VENV=${1:-.venv}
cd "$(dirname "$0")/.."
C=requirements/constraints.txt
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=(pipq "$VENV/bin/python" -m pip install --disable-pip-version-check -q -c "$C")
# the machine's local index mirrors warn about every package they lack; keep real errors only
pipq() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
# torch and torchvision as a matched pair from the registry. The pins keep pip
# away from the CPU-only torch file in find-links, which the registry's
# torchvision cannot import against.
"${PIP[@]}" torch torchvision
"${PIP[@]}" -r requirements/base.txt setuptools wheel
# basicsr 1.4.2's setup.py imports torch, so it must build against ours.
"${PIP[@]}" --no-build-isolation basicsr
# tests: the published JPEG blockiness code (DiverSeg's, shipped in torch_jpeg_blockiness) as the oracle of
# srkit-dataset's blockiness; its wheel pins an older torch and numpy, which its numpy code does not need
"${PIP[@]}" --no-deps torch_jpeg_blockiness
"${PIP[@]}" --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import torch, torchvision, srkit.compat; srkit.compat.import_basicsr()" \
  || { echo "setup_env: the environment in $VENV is broken; delete it and re-run" >&2; exit 1; }
touch "$VENV/.srkit-installed"
