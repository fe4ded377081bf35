# The msrs_scale draws and loss, shared by run.sh and noprior.sh (sourced, with R = msrs30's repeat and TW = the
# type weights set): lite62's draws with msrs30 drawn R times, and the loss weights of lite45 onwards.
UQ="loss_weights={'gradient':25,'pyramid':150,'intensity':5,'pyramid_window':3,'undershoot':150,'qabf':100}"
DRAWS=(--set "root_repeat={'roadscene171':6,'msrs30':$R}" --set "type_weights=$TW" --set "$UQ")
