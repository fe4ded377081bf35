# lite63 (twenty-seventh session; not shipped): lite62 + 3,000 Stage II steps (the SPDM catch-up that lite54 and lite61
# had), with lite62's draws. Targeted check: add lite63 to lite62's degraded_targeted.yaml (as the session did).
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=runs/lite62/model.safetensors --set freeze_dpen=True --set stage1_iters=0 --set stage2_iters=3000 --set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}" --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" --set out_dir=runs/lite63 --set name=lite63
