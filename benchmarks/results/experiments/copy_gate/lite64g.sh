# lite64g (twenty-ninth session; experiment copy_gate): the shipped lite63 grown with the SPDM's copy gate
# (x̂0 = D + g·(Ps_lq − D), g starting at zero, so the grown model computes what lite63 computes) and trained for
# 3,000 Stage II steps (the SPDM alone, gate included), with lite63's draws and loss.
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
X=benchmarks/results/experiments/copy_gate
dspfusion train $X/lite64g.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=0 --set stage2_iters=3000 --set "root_repeat={'roadscene171':6,'msrs30':10}" \
    --set "type_weights={'vi_LL':2,'vi_Blur':3}" \
    --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" \
    --set out_dir=runs/lite64g --set name=lite64g
