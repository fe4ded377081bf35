# The no-prior ablation's counterpart of run.sh (experiment msrs_scale): 1,500 Stage I steps from the shipped ablation
# noprior59 (Stage I length 59,500) with msrs30 drawn REPEATx and lite62's other draws; no Stage II (no SPDM).
#   bash benchmarks/results/experiments/msrs_scale/noprior.sh REPEAT NAME [TYPE_WEIGHTS]
# INIT=FILE starts from another ablation (default: noprior59's, benchmarks/weights/dspfusion-lite-noprior-59.5k.safetensors;
# the thirty-second session's noprior61o started from noprior60h's, dspfusion-lite-noprior-61k.safetensors).
. "$(dirname "$0")/draws.sh" "$@"   # arguments, working folder, environment, DRAWS
dspfusion train benchmarks/results/experiments/lite41/noprior41.yaml \
    --set init_from="${INIT:-benchmarks/weights/dspfusion-lite-noprior-59.5k.safetensors}" --set stage1_iters=1500 \
    "${STAGE1[@]}" --set out_dir=runs/$N --set name=$N
