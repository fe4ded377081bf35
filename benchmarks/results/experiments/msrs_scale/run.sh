# Experiment msrs_scale (thirty-first session): the full-resolution MSRS training pairs drawn more often.
# The priors help on RoadScene50 (above the no-prior ablation in 12 of 12 conditions) and barely on MSRS91 (5 of 12):
# RoadScene's training pairs are stored at the test scale (500x329 against 496x301), MSRS's mostly are not (msrs1083 at
# 171x128, the test pairs at 640x480; only msrs30's 22 training pairs are at 640x480, drawn 10x until now, about 9 %
# of the samples). This continues the shipped lite64s with msrs30 drawn REPEATx, as lite64s was made from lite63:
# 1,500 Stage I steps (restored_prior 1.0, lite62's other draws and loss), then 3,000 Stage II steps with the same draws.
#   bash benchmarks/results/experiments/msrs_scale/run.sh REPEAT NAME [TYPE_WEIGHTS]     (Stage I to runs/NAME1, the
#       whole run to runs/NAME; TYPE_WEIGHTS default "{'vi_LL':2,'vi_Blur':3}", lite62's)
#   bash benchmarks/results/experiments/msrs_scale/noprior.sh REPEAT NAME [TYPE_WEIGHTS] (the ablation's counterpart)
# Runs of the thirty-first session: run.sh 40 lite65m; noprior.sh 40 noprior60m.
# init_from reads the shipped weights (lite64s when this was written, step 85,800).
. "$(dirname "$0")/draws.sh" "$@"   # arguments, working folder, environment, DRAWS
L=benchmarks/results/experiments
[ -f runs/${N}1/model.safetensors ] || dspfusion train $L/lite52/lite52.yaml \
    --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=1500 --set stage2_iters=0 --set restored_prior=1.0 "${STAGE1[@]}" \
    --set out_dir=runs/${N}1 --set name=${N}1
dspfusion train $L/lite52/lite52.yaml --set init_from=runs/${N}1/model.safetensors --set freeze_dpen=True \
    --set stage1_iters=0 --set stage2_iters=3000 "${DRAWS[@]}" --set out_dir=runs/$N --set name=$N
