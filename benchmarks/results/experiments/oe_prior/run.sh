# Experiment oe_prior (thirty-fifth session): Stage II alone, from the shipped lite65h, with vi_OE and ir_LC drawn
# more often. Under MSRS91 vi_OE and ir_LC the shipped model is within a round's noise of its no-prior ablation, and
# the clean pair's semantic prior in place of the SPDM's lifts it by 0.004 and 0.007 (prior_oracle_vi_OE.md,
# prior_oracle_ir_LC.md). Stage II trains the SPDM alone (every other network frozen), a part the ablation does not
# have, so this is a difference the ablation cannot learn from the pixels, and the ablation needs no counterpart run.
#   bash benchmarks/results/experiments/oe_prior/run.sh NAME OE_WEIGHT LC_WEIGHT
# lite65h's own draws (msrs_scale's draws.sh with msrs30 drawn 20x, type weights vi_LL 2, vi_Blur 3, vi_haze 2) plus
# vi_OE and ir_LC weighted as given; 3,000 Stage II steps, lite65h's schedule.
[ $# -eq 3 ] || { echo "usage: $0 NAME OE_WEIGHT LC_WEIGHT" >&2; exit 2; }
N=$1
. "$(dirname "$0")/../msrs_scale/draws.sh" 20 "$N" "{'vi_LL':2,'vi_Blur':3,'vi_haze':2,'vi_OE':$2,'ir_LC':$3}"
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors \
    --set freeze_dpen=True --set stage1_iters=0 --set stage2_iters=3000 "${DRAWS[@]}" --set out_dir=runs/$N --set name=$N
