#!/usr/bin/env bash
# Stage 6: TorchScript + ONNX export of <exp-dir>/final.pt with parity checks against PyTorch (fails
# above --tolerance), onnxruntime CPU timing (batch 1 and 8), and the Results/Export sections of
# <exp-dir>/README.md (regenerated in place, never appended twice).

# Begin configuration section.
cmd=run.pl
model=            # default <exp-dir>/final.pt
data=             # data dir whose first wav.scp entry is the real input of the parity check
opset=17
tolerance=        # max abs difference allowed (default: conf --export-tolerance, else 1e-4)
runs=             # timed runs per backend and batch size (default: conf --export-timing-runs, else 5)
num_threads=0     # torch/onnxruntime threads (0: default)
quantize=         # none|int8: model.int8.onnx too (default: conf --export-quantize, else int8)
int8_eval=        # with int8: "DATA:TRIALS[,TRIALS] ..." lists on which its EER change is measured
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <exp-dir>
e.g.: $0 exp/ssrfnet
Options:
  --cmd CMD          job launcher (default run.pl)
  --model FILE       model to export (default <exp-dir>/final.pt; also an official artifact,
                     see docs/official-models.md)
  --data DIR         real audio for the parity check (first wav.scp entry); default synthetic speech-like
  --opset N          ONNX opset, >= 17 (default 17)
  --tolerance X      parity tolerance (default 1e-4)
  --runs N           timed runs per backend and batch size (default: conf, else 5)
  --num-threads N    CPU threads (default: torch default)
  --quantize Q       none|int8: also export model.int8.onnx (default: conf, else int8)
  --int8-eval SPECS  \"DATA:TRIALS[,TRIALS] ...\": measure int8's EER change and cosine to fp32 there"

echo "$0 $*"
# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "$help_message" >&2
  exit 1
fi
exp=$1
[ -n "$model" ] || model=$exp/final.pt
# a model file, a directory holding the released SSRFNet pair, or sv_mixer.pt,classifier.pt
[ -e "$model" ] || [[ "$model" == *,* ]] || { echo "$0: no such model $model" >&2; exit 1; }

opts=(--opset "$opset" --num-threads "$num_threads")
[ -f "$exp/config.conf" ] && opts+=(--conf "$exp/config.conf")
[ -n "$tolerance" ] && opts+=(--export-tolerance "$tolerance")
[ -n "$data" ] && opts+=(--data "$data")
[ -n "$runs" ] && opts+=(--export-timing-runs "$runs")
[ -n "$quantize" ] && opts+=(--export-quantize "$quantize")
if [ -n "$int8_eval" ]; then
  read -r -a eval_specs <<< "$int8_eval"
  opts+=(--int8-eval "${eval_specs[@]}")
fi

mkdir -p "$exp/log"
# a failure is named by the launcher (the log and its error line); an earlier export stays as it was
# shellcheck disable=SC2086  # $cmd holds the launcher and its options
$cmd "$exp/log/export.log" \
  python -m ssrfnet.bin.export "${opts[@]}" --model "$model" --exp-dir "$exp" --out-dir "$exp/export" || exit 1
grep "^export:" "$exp/log/export.log"
utils/peak_memory.sh "$0" "$exp/log/export.log"
