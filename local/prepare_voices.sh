#!/usr/bin/env bash
# Stage 0: VOiCES from a Distance Challenge 2019, speaker recognition dev and eval, as a Kaldi data dir.
# Library: ssrfnet/prep/evalsets/voices.py; layouts and list sources: docs/evaluation.md.
#
# <voices-root> holds sid_dev/ with sid_dev_lists_and_keys/{dev-enroll.lst,dev-trial-keys.lst} and
# sid_eval/ with sid_eval_lists/eval-enroll.lst and the post-evaluation keys
# VOiCES_challenge_2019_post-eval-release/VOiCES_challenge_2019_eval.SID.trial-keys.lst (searched by name).
# Produces <data-dir>/voices/{wav.scp,utt2spk,spk2utt,utt2dur,corpus.json}, trials/voices_{dev,eval}.kaldi.

# Begin configuration section.
nj=4          # parallel jobs for durations
dev_list=     # a path-based dev list instead of the keys (e.g. the official SSRFNet voices_dev.txt)
eval_list=    # a path-based eval list instead of the keys (e.g. voices_eval.txt)
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <voices-root> <data-dir>
e.g.: $0 --nj 8 /corpora/VOiCES data
Options:
  --nj N            parallel jobs for durations (default $nj)
  --dev-list FILE   path-based dev list ('1|0 path1 path2' or the official five fields) instead of the keys
  --eval-list FILE  path-based eval list instead of the keys"

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

python -m ssrfnet.bin.prepare_evalset voices --nj "$nj" ${dev_list:+--dev-list "$dev_list"} \
  ${eval_list:+--eval-list "$eval_list"} "$root" "$data"
utils/validate_data_dir.sh --no-text --no-feats "$data/voices"
echo "$0: prepared $data/voices"
