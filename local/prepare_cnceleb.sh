#!/usr/bin/env bash
# Stage 0: CN-Celeb1 evaluation set as a Kaldi data dir, one concatenated enrolment utterance per speaker.
# Library: ssrfnet/prep/evalsets/cnceleb.py; layouts and list sources: docs/evaluation.md.
#
# <cnceleb-root> is CN-Celeb_flac/ (cn-celeb_v2.tar.gz): data/, eval/{enroll,test}/ and
# eval/lists/{enroll.lst,enroll.map,trials.lst}. The enrolment utterance of a speaker is the distributed
# eval/enroll/<spk>-enroll file, or (without enroll.lst, or --enroll-from map) the concatenation of the
# enroll.map utterances, read through a sox pipe in wav.scp.
# Produces <data-dir>/cnceleb/{wav.scp,utt2spk,spk2utt,utt2dur,corpus.json}, trials/cnceleb1_eval.kaldi.

# Begin configuration section.
nj=4              # parallel jobs for durations
enroll_from=auto  # auto|files|map: eval/enroll/ files, or the concatenated enroll.map utterances
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <cnceleb-root> <data-dir>
e.g.: $0 --nj 8 /corpora/CN-Celeb_flac data
Options:
  --nj N                         parallel jobs for durations (default $nj)
  --enroll-from auto|files|map   enrolment utterances (default $enroll_from)"

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

python -m ssrfnet.bin.prepare_evalset cnceleb --nj "$nj" --enroll-from "$enroll_from" "$root" "$data"
utils/validate_data_dir.sh --no-text --no-feats "$data/cnceleb"
echo "$0: prepared $data/cnceleb"
