#!/usr/bin/env bash
# Regenerate every table and figure of the benchmark (see README.md).
#
#   ./run_all.sh [--data ROOT] [--profile cpu|paper|paper-cv|tiny] [--jobs N] [--out DIR] [...]
#   ./run_all.sh --test [PYTEST ARGS]     set up, then run the whole test suite
#   ./run_all.sh --setup                  only create/refresh .venv
#   ./run_all.sh --help
#
# Set-up is automatic and idempotent: .venv is created when missing and refreshed when
# pyproject.toml or scripts/bootstrap.sh change (scripts/bootstrap.sh explains the install order).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

usage() {
  cat <<'USAGE'
Usage: ./run_all.sh [OPTIONS]

Regenerates every table and figure of the benchmark into results/ (or --out).
Without --data it generates the synthetic phantom cohort once into $CIRRBENCH_CACHE
(default ~/.cache/cirrbench) and uses it.

Options (passed to `cirrbench reproduce`; see `cirrbench reproduce --help` for all):
  --data ROOT          CirrMRI600+ root folder or manifest .csv (default: $CIRRBENCH_DATA, else the phantom)
  --profile NAME       cpu (default; fits a 2-core CPU), paper (seed-paper settings, paired and
                       official splits, for a GPU), paper-cv (the same runners on the 3x5 CV grid,
                       for a cluster of GPUs; use its own --out), tiny (seconds), or a YAML file
  --jobs N             parallel processes (default: every core on a CPU, 1 on a GPU)
  --out DIR            results folder (default results/)
  --skip-check CHECK   proceed without a validation check (repeatable; listed in the output)
  --dask ADDRESS       run jobs and feature extraction on a Dask cluster (shared results folder)
  --device DEVICE      auto, cpu, cuda (default: the profile's)
  --force              rerun every job even when finished
  --dry-run            print the job grid (jobs per runner, done, to run); run nothing
  --set KEY=VALUE      override a config key (repeatable), e.g. --set runners.msa.params.epochs=2
  -q, --quiet          no progress bars

Exit codes: 0 done; 1 a job failed or the cohort failed validation; 2 nothing was run
(a config, flag or input error, one line per problem; or the results folder is in use).

Other modes:
  --test [ARGS]        set up, then run the test suite: python -m pytest ARGS (without ARGS:
                       -n auto --dist loadgroup, one pytest-xdist worker per core, tests that
                       share a costly fixture on one worker)
  --setup              only create or refresh .venv
  -h, --help           this help

Environment:
  CIRRBENCH_DATA       default for --data
  CIRRBENCH_CACHE      cache folder (default ~/.cache/cirrbench, as for the cirrbench command)
  CIRRBENCH_TORCH_SPEC torch requirement installed first (default torch==2.13.0)
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac

bash "$ROOT/scripts/bootstrap.sh"
PY="$ROOT/.venv/bin/python"

case "${1:-}" in
  --setup) exit 0 ;;
  --test) shift; if [ $# -eq 0 ]; then set -- -n auto --dist loadgroup; fi; exec "$PY" -m pytest "$@" ;;
esac
exec "$PY" -m cirrbench reproduce "$@"
