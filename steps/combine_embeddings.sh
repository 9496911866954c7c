#!/usr/bin/env bash
# Stage 4: one embedding directory for several sets (e.g. all test sets), so that stage 5 scores every
# trial list in one pass and writes one results table.
#
# Writes <out-dir>/xvector.scp, and crops.scp when every input has one: the inputs' lines, sorted by key.
# The arks stay where they are (the lines point to them). Utterance ids must be unique across the inputs:
# an id in two inputs is an error naming it. Each file is written under a temporary name and renamed, and
# a combined file from an earlier run that no longer applies is removed.

# Begin configuration section.
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 <out-dir> <emb-dir> [<emb-dir> ...]
e.g.: $0 exp/ssrfnet/embeddings/test exp/ssrfnet/embeddings/vox1 exp/ssrfnet/embeddings/vcmix"

echo "$0 $*"
# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "$help_message" >&2
  exit 1
fi
out=$1
shift
for dir in "$@"; do
  [ -f "$dir/xvector.scp" ] || { echo "$0: no $dir/xvector.scp (run steps/extract_embeddings.sh first)" >&2; exit 1; }
done
mkdir -p "$out"

for name in xvector.scp crops.scp; do
  rm -f "$out/$name"
  inputs=()
  for dir in "$@"; do
    [ -f "$dir/$name" ] && inputs+=("$dir/$name")
  done
  if [ "${#inputs[@]}" -ne $# ]; then
    [ "$name" = xvector.scp ] || echo "$0: not every input has $name; $out/$name not written"
    continue
  fi
  tmp=$(mktemp "$out/.$name.XXXXXX")
  chmod a+r "$tmp"
  LC_ALL=C sort -k1,1 "${inputs[@]}" > "$tmp"
  dup=$(cut -d' ' -f1 "$tmp" | uniq -d | head -n 1)
  if [ -n "$dup" ]; then
    rm -f "$tmp"
    echo "$0: utterance $dup is in more than one of: ${inputs[*]}" >&2
    exit 1
  fi
  mv "$tmp" "$out/$name"
  echo "$0: $(wc -l < "$out/$name") entries in $out/$name"
done
