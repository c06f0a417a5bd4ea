#!/usr/bin/env bash
# The GPU check of the deep half: the input-path measurement on the GPU and one epoch of every
# deep runner of the paper profile at the paper's settings (scripts/gpu_check.yaml).
#
#   scripts/gpu_check.sh OUT_DIR
#
# Writes OUT_DIR/training.json (cirrbench perf training --device cuda), OUT_DIR/jobs.csv (one row
# per job: runner, seconds, device) and the run's logs. Needs a CUDA GPU and the suite installed.
set -euo pipefail
OUT="${1:?usage: scripts/gpu_check.sh OUT_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

"$PY" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device: this check needs a GPU"
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version())
PY

start=$(date +%s)
"$PY" -m cirrbench perf training --device cuda --trials 3 --epochs 4 --out "$OUT/perf" 2>&1 | tee "$OUT/perf.log" | tail -40
echo "perf training: $(( $(date +%s) - start )) s"

start=$(date +%s)
"$PY" -m cirrbench reproduce --profile "$ROOT/scripts/gpu_check.yaml" --device cuda --jobs 1 --quiet \
  --out "$OUT/run" 2>&1 | tee "$OUT/run.log" | tail -60 || echo "reproduce exited non-zero (see run.log)"
echo "one epoch of every paper deep runner: $(( $(date +%s) - start )) s"

"$PY" - "$OUT" <<'PY'
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = []
for job in sorted((out / "run").glob("predictions/*/job.json")):
    record = json.loads(job.read_text())
    rows.append({k: record.get(k) for k in ("runner", "input", "protocol", "duration_s", "n_train", "device")})
with open(out / "jobs.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["runner", "input", "protocol", "duration_s", "n_train", "device"])
    writer.writeheader()
    writer.writerows(rows)
print(open(out / "jobs.csv").read())
PY
cp "$OUT/perf/training.json" "$OUT/training.json"
