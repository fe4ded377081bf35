# What run.sh and noprior.sh share (sourced as `. "$(dirname "$0")/draws.sh" "$@"`): their arguments REPEAT NAME
# [TYPE_WEIGHTS] (R, N, TW), the repository root as working folder, the virtual environment, two threads, and the
# msrs_scale draws and loss: lite62's draws with msrs30 drawn R times, TW's type weights, the loss weights of lite45
# onwards (DRAWS, the `--set` arguments of `dspfusion train`). Two optional environment variables add `--set` words
# (no spaces inside a value): EXTRA to every stage (e.g. "--set seed=1"), STAGE1_EXTRA to the Stage I runs only
# (STAGE1: DRAWS plus those; e.g. "--set tone_weight=20"); unset, the commands are those of before.
set -e
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 REPEAT NAME [TYPE_WEIGHTS]" >&2; exit 2; }
R=$1; N=$2; TW=${3:-"{'vi_LL':2,'vi_Blur':3}"}
cd "$(dirname "$0")/../../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=2
UQ="loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}"
DRAWS=(--set "root_repeat={'roadscene171':6,'msrs30':$R}" --set "type_weights=$TW" --set "$UQ")
DRAWS+=($EXTRA)
STAGE1=("${DRAWS[@]}" $STAGE1_EXTRA)
