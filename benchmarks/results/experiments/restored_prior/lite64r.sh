# lite64r (twenty-ninth session; experiment restored_prior): the shipped lite63 + 1,500 Stage I steps in which half
# the samples (restored_prior 0.5) feed the fusion network the semantic prior the frozen SPDM restores from the
# degraded pair, as at inference, instead of SPEN's prior of the clean pair; then 3,000 Stage II steps (the SPDM
# catch-up every Stage I change has needed since lite54). Draws and loss as lite62/lite63.
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
L=benchmarks/results/experiments
UQ="loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}"
DRAWS=(--set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}")
dspfusion train $L/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=1500 --set stage2_iters=0 --set restored_prior=0.5 "${DRAWS[@]}" --set "$UQ" \
    --set out_dir=runs/lite64r1 --set name=lite64r1
dspfusion train $L/lite52/lite52.yaml --set init_from=runs/lite64r1/model.safetensors --set freeze_dpen=True \
    --set stage1_iters=0 --set stage2_iters=3000 "${DRAWS[@]}" --set "$UQ" --set out_dir=runs/lite64r --set name=lite64r
