#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv), idempotently.
#
# Order matters and is the whole reason this script exists:
#   1. torch is pinned first (CIRRBENCH_TORCH_SPEC, default torch==2.13.0) so that nothing
#      later pulls a multi-GB CUDA build as a side effect;
#   2. pyradiomics 3.1.0 is only published as a source archive whose build imports numpy and
#      versioneer, so those (with setuptools and wheel) go in first and pyradiomics is built
#      with --no-build-isolation;
#   3. the project itself, editable, with its test extras.
# A stamp file records a hash of this script and pyproject.toml: a rerun with nothing
# changed does nothing and takes well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CIRRBENCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${CIRRBENCH_TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${CIRRBENCH_EXTRAS:-test}"
STAMP="$VENV/.cirrbench-setup"

fingerprint() {
  cat "$ROOT/scripts/bootstrap.sh" "$ROOT/pyproject.toml"
  printf '%s|%s|%s' "$TORCH_SPEC" "$EXTRAS" "$("$PYTHON" -c 'import sys; print(sys.version)')"
}
WANT="$(fingerprint | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

say() { printf '[setup] %s\n' "$*" >&2; }

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q)

say "installing $TORCH_SPEC first (keeps pip from pulling a CUDA build)"
"${PIP[@]}" "$TORCH_SPEC"

if ! "$VENV/bin/python" -c 'import radiomics' 2>/dev/null; then
  say "building pyradiomics 3.1.0 from source (needs numpy, versioneer, setuptools, wheel first)"
  "${PIP[@]}" numpy versioneer setuptools wheel
  "${PIP[@]}" --no-build-isolation pyradiomics
fi

say "installing cirrbench (editable) with extras [$EXTRAS]"
"${PIP[@]}" -e "$ROOT[$EXTRAS]"

echo "$WANT" > "$STAMP"
say "environment ready: $VENV"
