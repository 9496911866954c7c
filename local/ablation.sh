#!/usr/bin/env bash
# The ablation table of the recipe: every finished experiment under <exp-dir> (a directory with the
# results.json of stage 5; <name>_lm is the large-margin fine-tuned <name>), EER/minDCF per trial list and
# protocol, with and without AS-norm and score calibration (Cllr/actDCF for the calibrated systems),
# before and after LMFT, in one table sorted the same way every time.
#
# Writes <exp-dir>/ablation.md and <exp-dir>/ablation.json. Run at the end of stages 5 and 7.

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 <exp-dir>
e.g.: $0 exp"
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "$help_message" >&2
  exit 1
fi
exp=$1
[ -d "$exp" ] || { echo "$0: no such directory $exp" >&2; exit 1; }

python -m ssrfnet.bin.ablation "$exp"
