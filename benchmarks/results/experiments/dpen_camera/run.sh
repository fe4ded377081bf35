#!/usr/bin/env bash
# Experiment dpen_camera (twenty-seventh session, 2026-12-07; nothing installed): does fine-tuning the shipped DPEN
# for classification with camera augmentations (grey VI, mild sensor noise) raise the held-out VI diagnosis,
# TNO42's above all? cam64: with the augmentations; plain64: the same fine-tune without them (the control).
# Each variant: benchmarks/dpen_capacity.py (3,000 steps from the shipped DPEN, msrs30 trained on, the three test
# sets held out), then its DPEN put into the shipped model (copy_parts.py) and the probe refit and measured with
# fit_probe.py's protocol of the installed refit (docs/TRAINING.md item 23). Run from the repository root:
#   bash benchmarks/results/experiments/dpen_camera/run.sh cam64|plain64
set -euo pipefail
N=$1
source .venv/bin/activate
export OMP_NUM_THREADS=2
T=../shared/data/train; E=../shared/data/test; X=benchmarks/results/experiments/dpen_camera
case $N in
  cam64) CAM=(--grey-vi 0.3 --sensor-noise 0.5) ;;
  plain64) CAM=() ;;
  *) echo "usage: $0 cam64|plain64" >&2; exit 2 ;;
esac
python benchmarks/dpen_capacity.py --variant $N=32,4,48,64 --steps 3000 --lr 1e-3 \
  --init dspfusion/weights/dspfusion-lite.safetensors --train-roots $T/msrs1083 $T/msrs30 $T/roadscene171 $T/llvip32 \
  --eval $E/msrs91 $E/tno42 $E/roadscene50 "${CAM[@]}" --save-dir runs/dpen_cam --out-dir $X/$N
python benchmarks/copy_parts.py --source runs/dpen_cam/$N.safetensors --target dspfusion/weights/dspfusion-lite.safetensors \
  --out runs/dpen_cam/$N-model.safetensors --part degradation --require-equal
python benchmarks/fit_probe.py --model runs/dpen_cam/$N-model.safetensors --threads 2 \
  --train $T/msrs1083 $T/msrs30 $T/roadscene171 $T/llvip32 --eval $E/msrs91 $E/tno42 $E/roadscene50 \
  --scales 1 0.5 0.25 --per-class 600 --no-figure --out-dir $X/$N/probe --write runs/dpen_cam/$N-refit.safetensors
