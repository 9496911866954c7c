#!/usr/bin/env bash
# Split a data directory into N parts for parallel jobs.
#
# Usage: split_data.sh [--per-utt] <data-dir> <num-to-split>
# e.g.:  utils/split_data.sh data/train 8     # -> data/train/split8/{1..8}
#
# By default the split is by speaker (Kaldi semantics): all utterances of a
# speaker go to the same part; speakers are dealt out as contiguous blocks (in
# utt2spk order) so that the parts hold about equally many utterances. It is an
# error if N exceeds the number of speakers. With --per-utt the utterances
# themselves are split into N contiguous, equally sized blocks and the result
# goes to <data-dir>/split<N>utt/ (as in Kaldi), so both kinds can coexist.
#
# Every part is a data directory: utt2spk, spk2utt (rebuilt) and each of
# wav.scp, segments, feats.scp, text, utt2dur, utt2num_frames, vad.scp,
# utt2lang, utt2uniq, spk2gender, cmvn.scp, reco2dur, reco2file_and_channel
# that exists, subset consistently (with segments, wav.scp and the reco2*
# files are subset by recording); frame_shift is copied.
# The split is skipped when it is complete and newer than all source files.
# It is built in a temporary directory and moved into place at the end.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

per_utt=false
if [ "${1:-}" = --per-utt ]; then
  per_utt=true
  shift
fi
if [ "$#" -ne 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
  echo "Usage: $me [--per-utt] <data-dir> <num-to-split>" >&2
  echo "e.g.: $me data/train 8" >&2
  exit 1
fi
data=${1%/}
nj=$2
utils_dir=$(cd "$(dirname "$0")" && pwd)

if [ ! -s "$data/utt2spk" ]; then
  echo "$me: ERROR: $data/utt2spk does not exist or is empty" >&2
  exit 1
fi
if $per_utt; then
  splitdir=$data/split${nj}utt
else
  splitdir=$data/split$nj
fi

utt_files=(utt2spk feats.scp text utt2dur utt2num_frames vad.scp utt2lang utt2uniq)
spk_files=(spk2gender cmvn.scp)
reco_files=()
if [ -f "$data/segments" ]; then
  utt_files+=(segments)
  reco_files=(wav.scp reco2dur reco2file_and_channel)
else
  utt_files+=(wav.scp)
fi

# Skip if the split is complete and newer than every source file.
if [ -f "$splitdir/.done" ]; then
  up_to_date=true
  for f in "${utt_files[@]}" "${spk_files[@]}" "${reco_files[@]}" spk2utt frame_shift; do
    if [ -f "$data/$f" ] && [ "$data/$f" -nt "$splitdir/.done" ]; then up_to_date=false; fi
  done
  for ((n = 1; n <= nj; n++)); do
    [ -f "$splitdir/$n/utt2spk" ] || up_to_date=false
  done
  if $up_to_date; then
    echo "$me: $splitdir is up to date" >&2
    exit 0
  fi
fi

nutt=$(wc -l < "$data/utt2spk")
for f in "${utt_files[@]}"; do
  if [ -f "$data/$f" ] && [ "$(wc -l < "$data/$f")" -ne "$nutt" ]; then
    echo "$me: WARNING: $data/$f and $data/utt2spk differ in length; run utils/fix_data_dir.sh $data" >&2
  fi
done

tmp=$(mktemp -d "$data/.split_tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# utt -> part index
if $per_utt; then
  if [ "$nj" -gt "$nutt" ]; then
    echo "$me: ERROR: cannot split $nutt utterances into $nj parts" >&2
    exit 1
  fi
  awk -v n="$nj" -v total="$nutt" '{ printf("%s %d\n", $1, int((NR - 1) * n / total) + 1) }' \
    "$data/utt2spk" > "$tmp/utt2part"
else
  nspk=$(awk '!seen[$2]++' "$data/utt2spk" | wc -l)
  if [ "$nj" -gt "$nspk" ]; then
    echo "$me: ERROR: cannot split $nspk speakers into $nj parts (use --per-utt, or fewer jobs)" >&2
    exit 1
  fi
  # Contiguous blocks of speakers (first-appearance order) with balanced
  # utterance counts; every part gets at least one speaker.
  awk -v n="$nj" '
    NR == FNR { if (!($2 in cnt)) order[++s] = $2; cnt[$2]++; total++; next }
    FNR == 1 {
      cum[0] = 0
      for (j = 1; j <= s; j++) cum[j] = cum[j - 1] + cnt[order[j]]
      b[0] = 0; j = 0
      for (i = 1; i < n; i++) {
        target = total * i / n
        while (j < s && cum[j] < target) j++
        if (j > 0 && target - cum[j - 1] < cum[j] - target) j--
        if (j < b[i - 1] + 1) j = b[i - 1] + 1
        if (j > s - (n - i)) j = s - (n - i)
        b[i] = j
      }
      b[n] = s; i = 1
      for (j = 1; j <= s; j++) { while (j > b[i]) i++; part[order[j]] = i }
    }
    { printf("%s %d\n", $1, part[$2]) }
  ' "$data/utt2spk" "$data/utt2spk" > "$tmp/utt2part"
fi
awk 'NR == FNR { p[$1] = $2; next } { print $2, p[$1] }' "$tmp/utt2part" "$data/utt2spk" | sort -u > "$tmp/spk2part"

for ((n = 1; n <= nj; n++)); do mkdir -p "$tmp/$n"; done

# Write the lines of $2 to part files according to map $1 (key -> part; a key
# may map to several parts); key in field $3 of each line.
distribute() {
  local map=$1 src=$2 name=$3 field=$4
  awk -v f="$field" 'NR == FNR { parts[$1] = parts[$1] " " $2; next }
    ($f in parts) { m = split(parts[$f], ps, " "); for (i = 1; i <= m; i++) print ps[i] "\t" $0 }
  ' "$map" "$src" | sort -s -n -k1,1 | awk -v dir="$tmp" -v name="$name" '
    { t = index($0, "\t"); p = substr($0, 1, t - 1)
      if (p != cur) { if (out != "") close(out); cur = p; out = dir "/" p "/" name }
      print substr($0, t + 1) > out }'
}

for f in "${utt_files[@]}"; do
  if [ -f "$data/$f" ]; then distribute "$tmp/utt2part" "$data/$f" "$f" 1; fi
done
for f in "${spk_files[@]}"; do
  if [ -f "$data/$f" ]; then distribute "$tmp/spk2part" "$data/$f" "$f" 1; fi
done
if [ "${#reco_files[@]}" -gt 0 ]; then
  distribute "$tmp/utt2part" "$data/segments" reco.tmp 1
  for ((n = 1; n <= nj; n++)); do
    awk '{ print $2, '"$n"' }' "$tmp/$n/reco.tmp" | sort -u
    rm "$tmp/$n/reco.tmp"
  done > "$tmp/reco2part"
  for f in "${reco_files[@]}"; do
    if [ -f "$data/$f" ]; then distribute "$tmp/reco2part" "$data/$f" "$f" 1; fi
  done
fi
for ((n = 1; n <= nj; n++)); do
  "$utils_dir/utt2spk_to_spk2utt.pl" "$tmp/$n/utt2spk" | sort -k1,1 > "$tmp/$n/spk2utt"
  if [ -f "$data/frame_shift" ]; then cp "$data/frame_shift" "$tmp/$n/"; fi
done
rm -f "$tmp/utt2part" "$tmp/spk2part" "$tmp/reco2part"
touch "$tmp/.done"

rm -rf "$splitdir"
if ! mv -T "$tmp" "$splitdir" 2>/dev/null; then
  echo "$me: WARNING: $splitdir was created concurrently by another process; keeping it" >&2
  exit 0
fi
trap - EXIT
echo "$me: split $data into $nj parts in $splitdir" >&2
