#!/usr/bin/env bash
# Synthesises the embedded mini corpus: VoxCeleb2-dev-like training audio (m4a), a VoxCeleb1-like test
# set with O/E/H trial lists, MUSAN- and RIRS_NOISES-like augmentation data, and stand-ins for the
# evaluation sets (VoxSRC-23, VoxConverse for VCMix, VOiCES, CN-Celeb1, SITW), all in the real
# corpora's directory layouts, for machines that cannot download them.  Deterministic from --seed;
# re-running with the same options on a finished root is a no-op.

# Begin configuration section.
nj=$(nproc)
size=default      # tiny|default|large
seed=1234
vox2_format=m4a   # m4a (like the real VoxCeleb2) or wav
force=false       # true: delete a different corpus found in <root> and regenerate
# Size overrides of the preset (empty: the preset's value), see python -m ssrfnet.bin.make_mini_corpus --help;
# read below through ${!name}
# shellcheck disable=SC2034
{
num_train_speakers=
utts_per_speaker=
sessions_per_speaker=
num_test_speakers=
test_utts_per_speaker=
test_sessions_per_speaker=
num_trials=
num_rirs=
rirs_per_room=
num_music=
music_seconds=
num_noise=
noise_seconds=
num_babble_talkers=
babble_sentences=
evalset_speakers=
evalset_utts=
short_frac=
}
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <corpus-root>
e.g.: $0 --nj 2 --size default --seed 1234 corpora
Options:
  --nj <n>                     # parallel jobs (default: nproc)
  --size <tiny|default|large>  # size preset (default: $size)
  --seed <int>                 # random seed (default: $seed)
  --vox2-format <m4a|wav>      # audio format of the training set (default: $vox2_format)
  --force <true|false>         # regenerate over a different corpus (default: $force)
  --num-train-speakers <n>, --num-trials <n>, ... --short-frac <x>  # override the preset's sizes"

echo "$0 $*"
# shellcheck disable=SC1091
[ -f ./path.sh ] && . ./path.sh
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "$help_message" >&2
  exit 1
fi
root=$1

extra=()
$force && extra+=(--force)
for name in num_train_speakers utts_per_speaker sessions_per_speaker num_test_speakers test_utts_per_speaker \
            test_sessions_per_speaker num_trials num_rirs rirs_per_room num_music music_seconds num_noise \
            noise_seconds num_babble_talkers babble_sentences evalset_speakers evalset_utts short_frac; do
  [ -z "${!name}" ] || extra+=("--${name//_/-}" "${!name}")
done

python3 -m ssrfnet.bin.make_mini_corpus --nj "$nj" --size "$size" --seed "$seed" \
  --vox2-format "$vox2_format" "${extra[@]}" "$root" >/dev/null

echo "$0: mini corpus ($size, seed $seed) is ready under $root"
