#!/usr/bin/env bash
# Stage 0: VoxSRC-23 test (labels released after the challenge) as a Kaldi data dir with its trials.
# Library: ssrfnet/prep/evalsets/voxsrc23.py; layouts and list sources: docs/evaluation.md.
#
# <voxsrc23-root> holds VoxSRC2023_test/NNNNNN.wav (the flat test directory as unzipped) and the labelled
# list: challenge format '1|0 000123.wav 004567.wav' or the official SSRFNet '1|0 key1 key2 path1 path2'.
# Produces <data-dir>/voxsrc23/{wav.scp,utt2spk,spk2utt,utt2dur,corpus.json}, trials/voxsrc23_test.kaldi.
# A list naming absent audio is refused (count and first missing file); nothing is installed then.

# Begin configuration section.
nj=4          # parallel jobs for durations
list=         # the labelled list (default: first of voxsrc23_test.txt voxsrc_test.txt VoxSRC2023_test.txt)
audio_dir=    # directory the list's paths are relative to (default <root>/VoxSRC2023_test)
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <voxsrc23-root> <data-dir>
e.g.: $0 --nj 8 /corpora/voxsrc23 data
Options:
  --nj N           parallel jobs for durations (default $nj)
  --list FILE      the labelled trial list (default: a known name in <voxsrc23-root>)
  --audio-dir DIR  directory the list's paths are relative to (default <root>/VoxSRC2023_test)"

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

python -m ssrfnet.bin.prepare_evalset voxsrc23 --nj "$nj" ${list:+--list "$list"} \
  ${audio_dir:+--audio-dir "$audio_dir"} "$root" "$data"
utils/validate_data_dir.sh --no-text --no-feats "$data/voxsrc23"
echo "$0: prepared $data/voxsrc23"
