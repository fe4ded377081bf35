# Experiment tone_loss (thirty-third session): the shipped lite65h and its ablation noprior60h continued with
# lite65h's own recipe (msrs_scale: msrs30 drawn 20x, type weights vi_LL 2, vi_Blur 3, vi_haze 2) plus the Stage I
# term tone_weight (trainer.Stage1.tone_term: L1 between each tone-curved degraded input and its clean target, so
# that the per-image curves, which read the DPEN priors, restore global tone; the ablation's curve, fed zero priors,
# is one fixed curve). Aimed at MSRS91 vi_OE, where lite65h ties its ablation: its VI curve darkens an over-exposed
# frame only part of the way (VI mean 0.514 -> 0.319, clean 0.231: curves.md in this folder).
#   bash benchmarks/results/experiments/tone_loss/run.sh W NAME ABLATION [SEED]
# W 0 is lite65h's recipe itself (no tone term); SEED (default 0, as before) changes the draws and data order:
# `run.sh 0 lite67s noprior62s 1` repeats lite65h's last round with seed 1, to see how far vi_OE moves by chance.
. "$(dirname "$0")/../msrs_scale/draws.sh" 20 "$2" "{'vi_LL':2,'vi_Blur':3,'vi_haze':2}"
W=$1; A=$3; S=${4:-0}
L=benchmarks/results/experiments
[ -f runs/${N}1/model.safetensors ] || dspfusion train $L/lite52/lite52.yaml \
    --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True \
    --set stage1_iters=1500 --set stage2_iters=0 --set restored_prior=1.0 --set tone_weight=$W --set seed=$S "${DRAWS[@]}" \
    --set out_dir=runs/${N}1 --set name=${N}1
[ -f runs/$N/model.safetensors ] || dspfusion train $L/lite52/lite52.yaml --set init_from=runs/${N}1/model.safetensors \
    --set freeze_dpen=True --set stage1_iters=0 --set stage2_iters=3000 --set seed=$S "${DRAWS[@]}" --set out_dir=runs/$N --set name=$N
dspfusion train $L/lite41/noprior41.yaml --set init_from=benchmarks/weights/dspfusion-lite-noprior-61k.safetensors \
    --set stage1_iters=1500 --set tone_weight=$W --set seed=$S "${DRAWS[@]}" --set out_dir=runs/$A --set name=$A
