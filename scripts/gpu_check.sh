#!/usr/bin/env bash
# The GPU check of the deep half: the input-path measurement on the GPU and one epoch of every
# deep runner of the paper profile at the paper's settings (scripts/gpu_check.yaml).
#
#   scripts/gpu_check.sh OUT_DIR [perf] [epochs] [determinism]     (default: all three)
#
# perf: OUT_DIR/training.json (cirrbench perf training --device cuda);
# epochs: OUT_DIR/jobs.csv (one epoch of every paper deep runner: runner, seconds, device);
# determinism: OUT_DIR/determinism.json (one small deep job twice on the GPU under
# reproducible: bitwise: identical predictions?, with the job's kernel record).
# Needs a CUDA GPU and the suite installed.
set -euo pipefail
OUT="${1:?usage: scripts/gpu_check.sh OUT_DIR [perf] [epochs] [determinism]}"
shift
PARTS="${*:-perf epochs determinism}"
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

if [[ " $PARTS " == *" perf "* ]]; then
start=$(date +%s)
"$PY" -m cirrbench perf training --device cuda --trials 3 --epochs 4 --steps 20 --out "$OUT/perf" 2>&1 | tee "$OUT/perf.log" | tail -40
cp "$OUT/perf/training.json" "$OUT/training.json"
echo "perf training: $(( $(date +%s) - start )) s"
fi

if [[ " $PARTS " == *" determinism "* ]]; then
start=$(date +%s)
for run in 1 2; do
  "$PY" -m cirrbench run "$ROOT/scripts/gpu_determinism.yaml" --device cuda --jobs 1 -q --out "$OUT/det$run" > "$OUT/det$run.log" 2>&1
done
"$PY" - "$OUT" <<'PY'
import hashlib, json, sys
from pathlib import Path
out = Path(sys.argv[1])
digests, records = [], []
for run in (1, 2):
    (job,) = (out / f"det{run}").glob("predictions/*/job.json")
    digests.append(hashlib.sha256((job.parent / "predictions.csv").read_bytes()).hexdigest())
    records.append(json.loads(job.read_text()))
result = {"identical_predictions": digests[0] == digests[1], "digests": digests, "kernels": records[0].get("kernels"),
          "duration_s": [r["duration_s"] for r in records]}
(out / "determinism.json").write_text(json.dumps(result, indent=2))
print(json.dumps(result, indent=2))
PY
echo "determinism: $(( $(date +%s) - start )) s"
fi

if [[ " $PARTS " == *" epochs "* ]]; then
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
fi
