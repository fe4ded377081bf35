# init_from read the lite59 weights, shipped until the twenty-fifth session; since then the shipped file is lite61,
# so to rerun this, take lite59 (with its refit probe) from the history: git show e3f0600:dspfusion/weights/dspfusion-lite.safetensors
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True --set stage1_iters=1500 --set stage2_iters=300 --set "root_repeat={'roadscene171':3,'msrs30':10}" --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" --set out_dir=runs/lite60 --set name=lite60
