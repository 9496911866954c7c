#!/usr/bin/env bash
# Stage 0: Kaldi data directories for VoxCeleb1 (all of it: test trials E/H use dev speakers too) and
# VoxCeleb2 dev, a held-out development split of VoxCeleb2 dev, and the cleaned VoxCeleb1 trial lists.
# Works the same on the real corpora and on the embedded mini corpus.
#
# Produces under <data-dir>:
#   vox1/{wav.scp,utt2spk,spk2utt,utt2dur}, vox1/trials/vox1_{O,E,H}_cleaned.kaldi (for the lists present)
#   vox2_dev/     all VoxCeleb2 dev utterances
#   vox2_train/   vox2_dev minus --num-heldout-spk speakers (used for training)
#   vox2_heldout/ those speakers, with trials/heldout.kaldi and heldout_speakers (validation during training)
# Everything is built beside the targets and renamed into place on success; an unchanged directory is
# left untouched, a changed one is replaced and the previous version kept as <dir>.bak.

# Begin configuration section.
nj=4                  # parallel jobs for durations (decoding m4a pipes) and m4a conversion
m4a_mode=pipe         # pipe: ffmpeg pipe entries in wav.scp; convert: convert once to wav under convert_dir
convert_dir=          # --m4a-mode convert output (default <vox2-root>/dev/wav)
num_heldout_spk=40    # VoxCeleb2 dev speakers held out for development trials (0: no held-out split)
heldout_trials=2000   # at most this many held-out trials (half target, half non-target)
seed=777              # chooses the held-out speakers and trials
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <vox1-root> <vox2-root> <data-dir>
e.g.: $0 --nj 8 /corpora/voxceleb1 /corpora/voxceleb2 data
 <vox1-root> holds wav/idXXXXX/<session>/NNNNN.wav and veri_test2.txt, list_test_all2.txt, list_test_hard2.txt
 <vox2-root> holds dev/aac/idXXXXX/<session>/NNNNN.m4a (or .wav)
Options:
  --nj <n>                 # parallel jobs (default $nj)
  --m4a-mode <pipe|convert> # how m4a audio is read (default $m4a_mode)
  --convert-dir <dir>      # wav output for --m4a-mode convert (default <vox2-root>/dev/wav)
  --num-heldout-spk <n>    # VoxCeleb2 speakers held out for development (default $num_heldout_spk)
  --heldout-trials <n>     # maximum held-out trials (default $heldout_trials)
  --seed <n>               # seed of the held-out split (default $seed)"

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

vox1_root=$1
vox2_root=$2
data=$3

for dir in "$vox1_root" "$vox2_root"; do
  [ -d "$dir" ] || { echo "$0: no such directory: $dir" >&2; exit 1; }
done

python -m ssrfnet.bin.prepare_voxceleb --nj "$nj" --m4a-mode "$m4a_mode" ${convert_dir:+--convert-dir "$convert_dir"} \
  --num-heldout-spk "$num_heldout_spk" --heldout-trials "$heldout_trials" --seed "$seed" \
  "$vox1_root" "$vox2_root" "$data"

sets="vox1 vox2_dev vox2_train"
[ "$num_heldout_spk" -gt 0 ] && sets="$sets vox2_heldout"
for set in $sets; do
  python -m ssrfnet.bin.validate_data_dir --require-spk-prefix "$data/$set"
  if [ -x utils/validate_data_dir.sh ]; then
    utils/validate_data_dir.sh --no-text --no-feats "$data/$set"
  fi
done
echo "$0: prepared $sets in $data"
