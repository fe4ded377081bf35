# Experiment tone_loss (thirty-third session): the shipped lite65h and its ablation noprior60h continued with
# lite65h's own recipe (msrs_scale: msrs30 drawn 20x, type weights vi_LL 2, vi_Blur 3, vi_haze 2) plus the Stage I
# term tone_weight (trainer.Stage1.tone_term: L1 between each tone-curved degraded input and its clean target, so
# that the per-image curves, which read the DPEN priors, restore global tone; the ablation's curve, fed zero priors,
# is one fixed curve). Aimed at MSRS91 vi_OE, where lite65h ties its ablation: its VI curve darkens an over-exposed
# frame only part of the way (VI mean 0.514 -> 0.319, clean 0.231: curves.md in this folder).
#   bash benchmarks/results/experiments/tone_loss/run.sh W NAME ABLATION [SEED]
# W 0 is lite65h's recipe itself (no tone term); SEED (default 0, as before) changes the draws and data order:
# `run.sh 0 lite67s noprior62s 1` repeats lite65h's last round with seed 1, to see how far vi_OE moves by chance.
# The runs themselves are msrs_scale's run.sh and noprior.sh (lite65h's recipe), with the tone term added to Stage I
# and the seed to every stage through draws.sh's STAGE1_EXTRA and EXTRA; the ablation starts from noprior60h.
[ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: $0 W NAME ABLATION [SEED]" >&2; exit 2; }
set -e
M="$(dirname "$0")/../msrs_scale"
TW="{'vi_LL':2,'vi_Blur':3,'vi_haze':2}"
export EXTRA="--set seed=${4:-0}" STAGE1_EXTRA="--set tone_weight=$1"
bash "$M/run.sh" 20 "$2" "$TW"
INIT=benchmarks/weights/dspfusion-lite-noprior-61k.safetensors bash "$M/noprior.sh" 20 "$3" "$TW"
