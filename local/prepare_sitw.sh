#!/usr/bin/env bash
# Stage 0: Speakers in the Wild (SITW), core-core dev and eval, as a Kaldi data dir with its trials.
# Library: ssrfnet/prep/evalsets/sitw.py; layouts and list sources: docs/evaluation.md.
#
# <sitw-root> holds {dev,eval}/audio/*.flac, {dev,eval}/lists/enroll-core.lst and
# {dev,eval}/keys/core-core.lst, as distributed by SRI.
# Produces <data-dir>/sitw/{wav.scp,utt2spk,spk2utt,utt2dur,corpus.json},
# trials/sitw_{dev,eval}_core-core.kaldi.

# Begin configuration section.
nj=4    # parallel jobs for durations
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <sitw-root> <data-dir>
e.g.: $0 --nj 8 /corpora/sitw data
Options:
  --nj N    parallel jobs for durations (default $nj)"

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "$help_message" >&2
  exit 1
fi
root=$1
data=$2
[ -d "$root" ] || { echo "$0: no such directory: $root" >&2; exit 1; }

python -m ssrfnet.bin.prepare_evalset sitw --nj "$nj" "$root" "$data"
utils/validate_data_dir.sh --no-text --no-feats "$data/sitw"
echo "$0: prepared $data/sitw"
