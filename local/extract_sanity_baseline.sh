#!/usr/bin/env bash
# Stage 4 of the no-training sanity baseline (per-utterance mean and standard deviation of 30 MFCCs, scored
# by cosine; ssrfnet/models/baseline.py), an experiment of its own shared by every model of the recipe:
# writes <exp-dir>/final.pt once (python -m ssrfnet.bin.init_model --model-type=mfcc_stats), embeds each set
# (the default evaluation options: 10 x 3 s crops and the whole utterance), and combines the test sets into
# <exp-dir>/embeddings/test for stage 5. A set whose embeddings are newer than its wav.scp and the model
# file is kept as it is, so the baseline costs its extraction once, not once per experiment.
# No AS-norm cohort: the training set is not embedded.

# Begin configuration section.
cmd=run.pl
nj=4
other_sets=       # sets embedded besides the test sets, e.g. "vox2_heldout vox2_cal" (development, calibration)
# End configuration section.

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <data-dir> <exp-dir> <test-set> [<test-set> ...]
e.g.: $0 --cmd run.pl --nj 4 --other-sets \"vox2_heldout vox2_cal\" data exp/mfcc_stats vox1 sitw
Options:
  --cmd CMD            job launcher (default run.pl)
  --nj N               parallel extraction jobs (default 4)
  --other-sets \"SETS\"  further data dirs of <data-dir> to embed (not combined into embeddings/test)"
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
data=$1
dir=$2
shift 2
test_sets=("$@")
read -r -a more_sets <<< "$other_sets"
for set in "${test_sets[@]}" "${more_sets[@]}"; do
  [ -f "$data/$set/wav.scp" ] || { echo "$0: no such file $data/$set/wav.scp" >&2; exit 1; }
done

model=$dir/final.pt
if [ ! -f "$model" ]; then
  python -m ssrfnet.bin.init_model --model-type=mfcc_stats --out "$model"
fi
for set in "${test_sets[@]}" "${more_sets[@]}"; do
  out=$dir/embeddings/$set
  if [ -f "$out/xvector.scp" ] && [ "$out/xvector.scp" -nt "$data/$set/wav.scp" ] && [ "$out/xvector.scp" -nt "$model" ]; then
    echo "$0: $out is up to date"
    continue
  fi
  steps/extract_embeddings.sh --cmd "$cmd" --nj "$nj" "$model" "$data/$set" "$out"
done
steps/combine_embeddings.sh "$dir/embeddings/test" "${test_sets[@]/#/$dir/embeddings/}"
