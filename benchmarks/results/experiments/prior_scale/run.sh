# Experiment prior_scale (thirtieth session): the candidate lite64s with its priors computed on a shrunk copy of
# each pair (benchmarks/prior_scale.py), on the seeded degraded benchmark's inputs of MSRS91's four conditions where
# lite63 was below its ablation on the mean (runs/benchmarks/outliers, made by experiments/spdm_prior/check_msrs91.yaml). The same
# sweep on the clean sets and the other conditions was started and stopped to give the ship the CPU.
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
X=benchmarks/results/experiments/prior_scale
# (run on the candidate file benchmarks/weights/dspfusion-lite-candidate-lite64s.safetensors before it shipped; the
# shipped lite has the same fusion, DPEN, SPEN and SPDM tensors, only the refit diagnosis probe)
M=lite64s=lite
S=(full sem@171 sem@256 sem@320 all@171 all@256 all@320)
python benchmarks/prior_scale.py --model $M --inputs runs/benchmarks/outliers/inputs --datasets MSRS91 \
    --conditions LL_LC LL_SN vi_Blur vi_haze --pairs 91 --settings "${S[@]}" --out $X/msrs91_four.md
