# lite64p (twenty-ninth session; experiment spdm_weight): the shipped lite63 + 3,000 Stage II steps (the SPDM denoiser
# alone) with the L1 to the clean semantic prior weighted 100 instead of 10 (prior_weight), lite63's draws and loss.
# Why: on MSRS91 (LL_LC, LL_SN, vi_haze, vi_Blur) the fusion network given SPEN's prior of the CLEAN pair scores
# 0.014-0.042 Qabf above the prior the SPDM restores, and the SPDM's prior is further from the clean one than SPEN's
# prior of the degraded pair under vi_Blur (spdm_weight.md beside this script).
set -e
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
dspfusion train benchmarks/results/experiments/lite52/lite52.yaml --set init_from=dspfusion/weights/dspfusion-lite.safetensors --set freeze_dpen=True --set stage1_iters=0 --set stage2_iters=3000 --set prior_weight=100.0 --set "root_repeat={'roadscene171':6,'msrs30':10}" --set "type_weights={'vi_LL':2,'vi_Blur':3}" --set "loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}" --set out_dir=runs/lite64p --set name=lite64p
