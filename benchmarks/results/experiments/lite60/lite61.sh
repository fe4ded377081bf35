set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=runs/lite60/model.safetensors --set freeze_dpen=True --set stage1_iters=0 --set stage2_iters=3000 --set "root_repeat={'roadscene171':3,'msrs30':10}" --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" --set out_dir=runs/lite61 --set name=lite61
