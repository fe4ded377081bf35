# Experiment restored_prior (twenty-ninth session): the shipped lite63 + 1,500 Stage I steps in which each sample,
# with probability FRACTION (restored_prior), feeds the fusion network the semantic prior the frozen SPDM restores
# from the degraded pair, as at inference, instead of SPEN's prior of the clean pair; then 3,000 Stage II steps (the
# SPDM catch-up every Stage I change has needed since lite54). Draws and loss as lite62/lite63. Runs of this session:
#   bash benchmarks/results/experiments/restored_prior/run.sh 0.5 lite64r
#   bash benchmarks/results/experiments/restored_prior/run.sh 1.0 lite64s   (the candidate for the next ship)
# (the Stage I half is written to runs/NAME1, the whole run to runs/NAME)
# init_from reads the shipped weights, which were lite63's when these runs were made; lite64s has shipped since (the
# thirtieth session), so a rerun from lite63 needs init_from=<lite63's weights> (git show 0297395:dspfusion/weights/...).
set -e
[ $# -eq 2 ] || { echo "usage: $0 FRACTION NAME" >&2; exit 2; }
P=$1; N=$2
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
L=benchmarks/results/experiments
UQ="loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}"
DRAWS=(--set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}")
dspfusion train $L/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=1500 --set stage2_iters=0 --set restored_prior=$P "${DRAWS[@]}" --set "$UQ" \
    --set out_dir=runs/${N}1 --set name=${N}1
dspfusion train $L/lite52/lite52.yaml --set init_from=runs/${N}1/model.safetensors --set freeze_dpen=True \
    --set stage1_iters=0 --set stage2_iters=3000 "${DRAWS[@]}" --set "$UQ" --set out_dir=runs/$N --set name=$N
