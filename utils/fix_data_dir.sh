#!/usr/bin/env bash
# Make a Kaldi data directory consistent: sort every known file (LC_ALL=C, by
# key), keep only the utterances present in all utterance-keyed files,
# drop speakers/recordings nobody uses, and rebuild spk2utt.
#
# Usage: fix_data_dir.sh [options] <data-dir>
# e.g.:  utils/fix_data_dir.sh data/train
# Options:
#   --utt-extra-files "a b"   more utterance-keyed files to sort and filter
#   --spk-extra-files "c d"   more speaker-keyed files to sort and filter
#
# Utterance-keyed: utt2spk, wav.scp (when there is no segments file),
#   segments, feats.scp, text, utt2dur, utt2num_frames, vad.scp, utt2lang,
#   utt2uniq and the extra files.
# Speaker-keyed: spk2gender, cmvn.scp and the spk extra files.
# Recording-keyed (with segments): wav.scp, reco2dur, reco2file_and_channel.
#
# Duplicate keys: lines repeated verbatim are collapsed to one; the same key
# with different contents is an error (there is no safe way to choose), and
# nothing is changed.
# The originals of all files rewritten are copied to <data-dir>/.backup/.
# All results are computed in a temporary directory first, so a failure
# leaves the data directory untouched. If no utterance would remain, the
# script fails without changing anything.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

utt_extra_files=
spk_extra_files=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --utt-extra-files|--spk-extra-files)
      [ "$#" -ge 2 ] || { echo "$me: option $1 needs a value" >&2; exit 1; }
      if [ "$1" = --utt-extra-files ]; then utt_extra_files=$2; else spk_extra_files=$2; fi
      shift 2
      ;;
    --*) echo "$me: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done

if [ "$#" -ne 1 ]; then
  echo "Usage: $me [--utt-extra-files \"<files>\"] [--spk-extra-files \"<files>\"] <data-dir>" >&2
  echo "e.g.: $me --utt-extra-files \"utt2lang\" data/train" >&2
  exit 1
fi
data=${1%/}
utils_dir=$(cd "$(dirname "$0")" && pwd)

if [ ! -s "$data/utt2spk" ]; then
  echo "$me: ERROR: $data/utt2spk does not exist or is empty" >&2
  exit 1
fi
bad=$(awk 'NF != 2 { printf("line %d: %s", NR, $0); exit }' "$data/utt2spk")
if [ -n "$bad" ]; then
  echo "$me: ERROR: $data/utt2spk needs exactly 2 fields per line, bad $bad" >&2
  exit 1
fi

tmp=$(mktemp -d "$data/.fix_tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

present() {  # print the names (from the arguments) of files present in $data
  local f
  for f in "$@"; do
    if [ -f "$data/$f" ]; then echo "$f"; fi
  done
}

has_segments=false
[ -f "$data/segments" ] && has_segments=true

# shellcheck disable=SC2086  # the extra-file lists are meant to be word-split
mapfile -t utt_files < <(
  if $has_segments; then
    present utt2spk segments feats.scp text utt2dur utt2num_frames vad.scp utt2lang utt2uniq $utt_extra_files
  else
    present utt2spk wav.scp feats.scp text utt2dur utt2num_frames vad.scp utt2lang utt2uniq $utt_extra_files
  fi | awk '!seen[$0]++')
# shellcheck disable=SC2086
mapfile -t spk_files < <(present spk2gender cmvn.scp $spk_extra_files | awk '!seen[$0]++')
reco_files=()
if $has_segments; then
  mapfile -t reco_files < <(present wav.scp reco2dur reco2file_and_channel)
fi

# 1. sort by key; collapse verbatim duplicates; refuse conflicting ones.
for f in "${utt_files[@]}" "${spk_files[@]}" "${reco_files[@]}"; do
  sort -k1,1 -s "$data/$f" | awk -v file="$data/$f" -v me="$me" '
    NF == 0 { next }
    $1 == key { if ($0 != kept) { printf("%s: ERROR: duplicate key %s with different contents in %s\n", me, key, file) > "/dev/stderr"; bad = 1; exit 1 } dup++; next }
    { key = $1; kept = $0; print }
    END { if (!bad && dup) printf("%s: removed %d duplicated line(s) from %s\n", me, dup, file) > "/dev/stderr" }
  ' > "$tmp/$f.sorted" || exit 1
done

# 2. segments must refer to known recordings.
if $has_segments && [ -f "$tmp/wav.scp.sorted" ]; then
  "$utils_dir/filter_scp.pl" -f 2 "$tmp/wav.scp.sorted" "$tmp/segments.sorted" > "$tmp/segments.tmp"
  mv "$tmp/segments.tmp" "$tmp/segments.sorted"
fi

# 3. utterances present in every utterance-keyed file.
nfiles=${#utt_files[@]}
for f in "${utt_files[@]}"; do awk '{print $1}' "$tmp/$f.sorted"; done |
  sort | uniq -c | awk -v n="$nfiles" '$1 == n { print $2 }' > "$tmp/keep_utts"

norig=$(wc -l < "$tmp/utt2spk.sorted")
nkeep=$(wc -l < "$tmp/keep_utts")
for f in "${utt_files[@]}"; do
  nmiss=$("$utils_dir/filter_scp.pl" --exclude "$tmp/$f.sorted" "$tmp/utt2spk.sorted" | wc -l)
  if [ "$nmiss" -gt 0 ]; then
    echo "$me: $nmiss utterance(s) of utt2spk have no entry in $f" >&2
  fi
done
if [ "$nkeep" -eq 0 ]; then
  echo "$me: ERROR: no utterances would remain in $data; not changing anything" >&2
  exit 1
fi

for f in "${utt_files[@]}"; do
  "$utils_dir/filter_scp.pl" "$tmp/keep_utts" "$tmp/$f.sorted" > "$tmp/$f"
done
awk '{print $2}' "$tmp/utt2spk" | sort -u > "$tmp/keep_spks"
for f in "${spk_files[@]}"; do
  "$utils_dir/filter_scp.pl" "$tmp/keep_spks" "$tmp/$f.sorted" > "$tmp/$f"
done
if $has_segments; then
  awk '{print $2}' "$tmp/segments" | sort -u > "$tmp/keep_recos"
  for f in "${reco_files[@]}"; do
    "$utils_dir/filter_scp.pl" "$tmp/keep_recos" "$tmp/$f.sorted" > "$tmp/$f"
  done
fi
"$utils_dir/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" | sort -k1,1 > "$tmp/spk2utt"

if ! sort -k2,2 -k1,1 "$tmp/utt2spk" | awk '{print $1}' | cmp -s - <(awk '{print $1}' "$tmp/utt2spk"); then
  echo "$me: WARNING: utt2spk is not sorted by speaker as well as by utterance;" \
    "make the speaker id a prefix of the utterance id (validate_data_dir.sh will complain)" >&2
fi

# 4. back up and install.
mkdir -p "$data/.backup"
for f in "${utt_files[@]}" "${spk_files[@]}" "${reco_files[@]}" spk2utt; do
  if [ -f "$data/$f" ]; then cp -p "$data/$f" "$data/.backup/$f"; fi
done
for f in "${utt_files[@]}" "${spk_files[@]}" "${reco_files[@]}" spk2utt; do
  mv "$tmp/$f" "$data/$f"
done

echo "$me: kept $nkeep of $norig utterances ($((norig - nkeep)) removed) in $data; originals in $data/.backup" >&2
