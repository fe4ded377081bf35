# The no-prior ablation given what lite60 added to lite59: 1,500 Stage I steps with the usual draws (no type_weights),
# from the ablation shipped beside lite59 (noprior55). The ablation has no SPDM, so lite60's 300 and lite61's 3,000
# Stage II steps have nothing to train in it. The 55k file was removed once this run replaced it; it is in the history:
# git show e3f0600:benchmarks/weights/dspfusion-lite-noprior-55k.safetensors
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
dspfusion train benchmarks/results/experiments/lite41/noprior41.yaml \
    --set init_from=benchmarks/weights/dspfusion-lite-noprior-55k.safetensors --set stage1_iters=1500 \
    --set "root_repeat={'roadscene171':3,'msrs30':10}" \
    --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" \
    --set out_dir=runs/noprior56 --set name=noprior56
