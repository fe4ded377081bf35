# lite62 (twenty-seventh session; not shipped): the shipped lite61 + 1,500 Stage I and 300 Stage II steps with the
# sharp daylight pairs drawn twice as often as in the shipped recipe (roadscene171 x6 instead of x3) and vi_Blur
# three times as often ({vi_LL: 2} as before), to test whether more strong blur on sharp daylight frames closes
# RoadScene50 vi_Blur, lost at sigma 2-4 (docs/EXPERIMENTS.md, "Where RoadScene50 vi_Blur is lost"). Targeted check:
#   dspfusion benchmark benchmarks/results/experiments/lite62/degraded_targeted.yaml --no-speed
# init_from read lite61 (shipped in the twenty-fifth session, step 76,500).
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True --set stage1_iters=1500 --set stage2_iters=300 --set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}" --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" --set out_dir=runs/lite62 --set name=lite62
