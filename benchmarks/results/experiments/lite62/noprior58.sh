# The no-prior ablation given what lite62 added to lite61: 1,500 Stage I steps with roadscene171 drawn 6x and vi_Blur
# 3x ({vi_LL: 2} as before), from the ablation shipped beside lite61 (noprior56, Stage I length 56,500 -> 58,000).
# The ablation has no SPDM, so lite62's 300 and lite63's 3,000 Stage II steps have nothing to train in it.
# The 56.5k file was removed once this run replaced it; it is in the history:
# git show 539c53c:benchmarks/weights/dspfusion-lite-noprior-56.5k.safetensors
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
dspfusion train benchmarks/results/experiments/lite41/noprior41.yaml \
    --set init_from=benchmarks/weights/dspfusion-lite-noprior-56.5k.safetensors --set stage1_iters=1500 \
    --set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}" \
    --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" \
    --set out_dir=runs/noprior58 --set name=noprior58
