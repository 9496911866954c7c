#!/usr/bin/env bash
# Stage 0: VCMix (VoxConverse-test non-targets + VoxCeleb1-O cleaned targets) as a Kaldi data dir.
# Library: ssrfnet/prep/evalsets/vcmix.py; layouts and list sources: docs/evaluation.md.
#
# <vcmix-root> holds voxconverse_test_SV/ (audio and trials_wo_overlap.txt, as the SEED project's zip
# unpacks) and, optionally, the published vcmix_test.txt (159,536 lines '1|0 path1 path2'). Without the
# published list it is built from the label-0 lines of trials_wo_overlap.txt and the label-1 lines of
# <vox1-root>/veri_test2.txt, and kept as <data-dir>/vcmix/vcmix_test.txt.
# Produces <data-dir>/vcmix/{wav.scp,utt2spk,spk2utt,utt2dur,corpus.json}, trials/vcmix_test.kaldi.

# Begin configuration section.
nj=4              # parallel jobs for durations
vox1_root=        # VoxCeleb1 root (wav/ and veri_test2.txt); required
list=             # the published VCMix list (default <vcmix-root>/vcmix_test.txt when present)
voxconverse_dir=  # VoxConverse test SV directory (default <vcmix-root>/voxconverse_test_SV)
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 --vox1-root <vox1-root> [options] <vcmix-root> <data-dir>
e.g.: $0 --nj 8 --vox1-root /corpora/VoxCeleb1 /corpora/vcmix data
Options:
  --nj N                 parallel jobs for durations (default $nj)
  --vox1-root DIR        VoxCeleb1 root with wav/ and veri_test2.txt (required)
  --list FILE            the published vcmix_test.txt (default: in <vcmix-root> when present)
  --voxconverse-dir DIR  the VoxConverse test SV directory (default <vcmix-root>/voxconverse_test_SV)"

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 2 ] || [ -z "$vox1_root" ]; then
  echo "$help_message" >&2
  exit 1
fi
root=$1
data=$2
for dir in "$root" "$vox1_root"; do
  [ -d "$dir" ] || { echo "$0: no such directory: $dir" >&2; exit 1; }
done

python -m ssrfnet.bin.prepare_evalset vcmix --nj "$nj" --vox1-root "$vox1_root" ${list:+--list "$list"} \
  ${voxconverse_dir:+--voxconverse-dir "$voxconverse_dir"} "$root" "$data"
utils/validate_data_dir.sh --no-text --no-feats "$data/vcmix"
echo "$0: prepared $data/vcmix"
