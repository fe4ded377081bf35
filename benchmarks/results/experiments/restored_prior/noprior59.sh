# The no-prior ablation given what lite64r added to lite63: 1,500 Stage I steps with lite62's draws (roadscene171 6x,
# vi_Blur 3x, vi_LL 2x), from the ablation shipped beside lite63 (noprior58, Stage I length 58,000 -> 59,500).
# restored_prior has nothing to act on without priors, and the ablation has no SPDM for the 3,000 Stage II steps.
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
dspfusion train benchmarks/results/experiments/lite41/noprior41.yaml \
    --set init_from=benchmarks/weights/dspfusion-lite-noprior-58k.safetensors --set stage1_iters=1500 \
    --set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}" \
    --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" \
    --set out_dir=runs/noprior59 --set name=noprior59
