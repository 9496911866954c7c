#!/usr/bin/env bash
# Calibration trials for QMF score calibration, from the held-out training-corpus speakers (never a test
# list): short segments (2-6 s, cut at random from each utterance) paired with long ones (whole utterances
# longer than 6 s; on corpora without any, every whole utterance), target trials from different source
# utterances of one speaker, non-target trials across speakers.
#
# Produces <out-dir>: wav.scp utt2spk spk2utt utt2dur, wav/ (the short segments), segments.tsv,
# trials/calibration.kaldi and calibration_set.json. Stage 4 extracts its embeddings like any data dir;
# stage 5 fits the calibration on them (ssrfnet.scoring.calibration).

# Begin configuration section.
nj=4                # threads cutting the short segments
seed=777            # segment lengths and positions, trial draws
short_seconds=2,6   # length range of the short segments
long_min=6          # utterances longer than this (seconds) are the long segments
max_utts_per_spk=20 # source utterances per speaker (0: all)
max_trials=20000    # at most this many trials (half target where possible)
# End configuration section.

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <heldout-data-dir> <out-dir>
e.g.: $0 --nj 4 data/vox2_heldout data/vox2_cal
Options:
  --nj <n>                 # threads (default $nj)
  --seed <n>               # random seed (default $seed)
  --short-seconds <lo,hi>  # short segment lengths (default $short_seconds)
  --long-min <s>           # minimum length of a long segment (default $long_min)
  --max-utts-per-spk <n>   # source utterances per speaker (default $max_utts_per_spk)
  --max-trials <n>         # maximum number of trials (default $max_trials)"
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "$help_message" >&2
  exit 1
fi
src=$1
out=$2
for f in wav.scp utt2spk utt2dur; do
  [ -f "$src/$f" ] || { echo "$0: no $src/$f (run stage 0 with --num-heldout-spk > 0)" >&2; exit 1; }
done

python -m ssrfnet.bin.make_calibration_set --nj "$nj" --seed "$seed" --short-seconds "$short_seconds" \
  --long-min "$long_min" --max-utts-per-spk "$max_utts_per_spk" --max-trials "$max_trials" "$src" "$out"
