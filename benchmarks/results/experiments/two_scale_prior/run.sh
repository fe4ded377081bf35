# Experiment two_scale_prior (thirty-third session): the shipped lite (lite65h, step 90,300) with its semantic prior
# the mean of the full-resolution pair's and a 256-px copy's (benchmarks/prior_scale.py's mix@256, no training), beside
# the full-resolution prior (as shipped) and the copy's alone (sem@256), on the degraded benchmark's seeded MSRS91
# inputs of the conditions where the priors help least against the ablation (vi_OE tied, day frames of LL_LC, LL_SN,
# vi_haze) and vi_Blur (which sem@256 lost in the prior_scale experiment).
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
X=benchmarks/results/experiments/two_scale_prior
python benchmarks/prior_scale.py --model lite65h=lite --inputs runs/benchmarks/degraded/inputs --datasets MSRS91 \
    --conditions vi_OE LL_LC LL_SN vi_haze vi_Blur --pairs 91 --settings full sem@256 mix@256 --out $X/msrs91_five.md
# then SPEN on the copy with SPDM under the full pair's DPEN priors (semd@256), on the same inputs
python benchmarks/prior_scale.py --model lite65h=lite --inputs runs/benchmarks/degraded/inputs --datasets MSRS91 \
    --conditions vi_OE LL_LC LL_SN vi_haze vi_Blur --pairs 91 --settings full semd@256 --out $X/msrs91_five_semd.md
