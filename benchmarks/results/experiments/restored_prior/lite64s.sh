# lite64s (twenty-ninth session; experiment restored_prior): as lite64r, with every Stage I sample reading the
# prior the frozen SPDM restores (restored_prior 1.0 instead of 0.5), then the same 3,000 Stage II steps.
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
L=benchmarks/results/experiments
UQ="loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}"
DRAWS=(--set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}")
dspfusion train $L/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=1500 --set stage2_iters=0 --set restored_prior=1.0 "${DRAWS[@]}" --set "$UQ" \
    --set out_dir=runs/lite64s1 --set name=lite64s1
dspfusion train $L/lite52/lite52.yaml --set init_from=runs/lite64s1/model.safetensors --set freeze_dpen=True \
    --set stage1_iters=0 --set stage2_iters=3000 "${DRAWS[@]}" --set "$UQ" --set out_dir=runs/lite64s --set name=lite64s
