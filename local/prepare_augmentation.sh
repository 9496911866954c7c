#!/usr/bin/env bash
# Stage 1: augmentation resources from MUSAN and RIRS_NOISES (real corpora or the mini-corpus stand-ins).
#
# Produces under <data-dir>:
#   musan_noise/ musan_music/ musan_speech/ rirs/   wav.scp utt2spk spk2utt utt2dur
#   <set>/packed/{audio.npy,index.tsv,manifest.json}  all clips in one memory-mapped int16 array that
#                                                      training samples from (ssrfnet.data.packed.PackedAudio)
# RIRs: all of simulated_rirs/{smallroom,mediumroom,largeroom}. Directories are built beside the targets
# and renamed into place on success; unchanged ones are left as they are, changed ones kept as <dir>.bak.

# Begin configuration section.
nj=4    # parallel threads for reading headers and packing
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <musan-root> <rirs-root> <data-dir>
e.g.: $0 --nj 8 /corpora/musan /corpora/RIRS_NOISES data
 <musan-root> holds {noise,music,speech}/<source>/*.wav
 <rirs-root> holds simulated_rirs/{smallroom,mediumroom,largeroom}/RoomNNN/*.wav
Options:
  --nj <n>     # parallel threads (default $nj)"

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi

musan_root=$1
rirs_root=$2
data=$3

for dir in "$musan_root" "$rirs_root"; do
  [ -d "$dir" ] || { echo "$0: no such directory: $dir" >&2; exit 1; }
done

python -m ssrfnet.bin.prepare_augmentation --nj "$nj" "$musan_root" "$rirs_root" "$data"

for set in musan_noise musan_music musan_speech rirs; do
  python -m ssrfnet.bin.validate_data_dir "$data/$set"
  if [ -x utils/validate_data_dir.sh ]; then
    utils/validate_data_dir.sh --no-text --no-feats "$data/$set"
  fi
done
echo "$0: prepared musan_noise musan_music musan_speech rirs (with packed audio) in $data"
