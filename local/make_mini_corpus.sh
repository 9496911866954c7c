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
# End configuration section.

echo "$0 $*"

# shellcheck disable=SC1091
[ -f ./path.sh ] && . ./path.sh

usage="Usage: $0 [options] <corpus-root>
e.g.: $0 --nj 2 --size default --seed 1234 corpora
Options:
  --nj <n>                 # parallel jobs (default: nproc)
  --size <tiny|default|large>  # size preset (default: $size)
  --seed <int>             # random seed (default: $seed)
  --vox2-format <m4a|wav>  # audio format of the training set (default: $vox2_format)
  --force <true|false>     # regenerate over a different corpus (default: $force)
  --num-train-speakers N, --num-trials N, ...  # passed to ssrfnet/bin/make_mini_corpus.py"

extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) echo "$usage"; exit 0 ;;
    --nj) nj=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --vox2-format) vox2_format=$2; shift 2 ;;
    --force) force=$2; shift 2 ;;
    --*=*) echo "$0: use '--opt value', not '--opt=value': $1" >&2; exit 1 ;;
    --*) [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
         extra+=("$1" "$2"); shift 2 ;;
    *) break ;;
  esac
done

set -euo pipefail

if [ $# -ne 1 ]; then
  echo "$usage" >&2
  exit 1
fi
root=$1

case "$force" in
  true) extra+=(--force) ;;
  false) ;;
  *) echo "$0: --force takes true or false, not '$force'" >&2; exit 1 ;;
esac

python3 -m ssrfnet.bin.make_mini_corpus --nj "$nj" --size "$size" --seed "$seed" \
  --vox2-format "$vox2_format" "${extra[@]}" "$root" >/dev/null

echo "$0: mini corpus ($size, seed $seed) is ready under $root"
