#!/usr/bin/env bash
# Copy a data directory, optionally renaming utterances and speakers.
#
# Usage: copy_data_dir.sh [options] <src-dir> <dest-dir>
# e.g.:  utils/copy_data_dir.sh --utt-suffix -reverb --spk-suffix "" data/train data/train_reverb
# Options:
#   --utt-prefix P   new utterance id = P<old-id><suffix>
#   --utt-suffix S
#   --spk-prefix P   new speaker id = P<old-id><suffix>
#   --spk-suffix S
# Copied (if present): utt2spk, spk2utt (rebuilt), wav.scp, segments,
# feats.scp, text, utt2dur, utt2num_frames, vad.scp, utt2lang, utt2uniq,
# spk2gender, cmvn.scp, reco2dur, reco2file_and_channel, frame_shift.
# With segments, wav.scp and the reco2* files keep their recording ids.
# When utterances are renamed, utt2uniq (new id -> original id) is written,
# or its keys are renamed if the source already has one, so that tools can
# keep copies of the same recording together.
# All files are re-sorted (LC_ALL=C); each is written to a temporary file and
# moved into place.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

utt_prefix=
utt_suffix=
spk_prefix=
spk_suffix=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --utt-prefix|--utt-suffix|--spk-prefix|--spk-suffix)
      [ "$#" -ge 2 ] || { echo "$me: option $1 needs a value" >&2; exit 1; }
      case "$1" in
        --utt-prefix) utt_prefix=$2 ;;
        --utt-suffix) utt_suffix=$2 ;;
        --spk-prefix) spk_prefix=$2 ;;
        --spk-suffix) spk_suffix=$2 ;;
      esac
      shift 2
      ;;
    --*) echo "$me: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ "$#" -ne 2 ]; then
  echo "Usage: $me [--utt-prefix P] [--utt-suffix S] [--spk-prefix P] [--spk-suffix S] <src-dir> <dest-dir>" >&2
  echo "e.g.: $me --utt-suffix -reverb data/train data/train_reverb" >&2
  exit 1
fi
src=${1%/}
dest=${2%/}
utils_dir=$(cd "$(dirname "$0")" && pwd)

if [ ! -s "$src/utt2spk" ]; then
  echo "$me: ERROR: $src/utt2spk does not exist or is empty" >&2
  exit 1
fi
if [ -d "$dest" ] && [ "$(cd "$src" && pwd)" = "$(cd "$dest" && pwd)" ]; then
  echo "$me: ERROR: source and destination are the same directory" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rename field 1 (and field 2 for utt2spk) with the given prefix/suffix
rename_keys() {
  awk -v p="$1" -v s="$2" -v p2="${3:-}" -v s2="${4:-}" -v two="${5:-0}" '{
      line = $0
      sub(/^[ \t]*[^ \t]+/, "", line)
      if (two) { print p $1 s " " p2 $2 s2 } else { print p $1 s line }
    }'
}

rename_keys "$utt_prefix" "$utt_suffix" "$spk_prefix" "$spk_suffix" 1 < "$src/utt2spk" | sort -k1,1 > "$tmp/utt2spk"
written=(utt2spk)
utt_files=(feats.scp text utt2dur utt2num_frames vad.scp utt2lang utt2uniq)
reco_files=()
if [ -f "$src/segments" ]; then
  utt_files+=(segments)
  reco_files=(wav.scp reco2dur reco2file_and_channel)
else
  utt_files+=(wav.scp)
fi
for f in "${utt_files[@]}"; do
  if [ -f "$src/$f" ]; then
    rename_keys "$utt_prefix" "$utt_suffix" < "$src/$f" | sort -k1,1 > "$tmp/$f"
    written+=("$f")
  fi
done
if [ -n "$utt_prefix$utt_suffix" ] && [ ! -f "$src/utt2uniq" ]; then
  awk -v p="$utt_prefix" -v s="$utt_suffix" '{ print p $1 s, $1 }' "$src/utt2spk" | sort -k1,1 > "$tmp/utt2uniq"
  written+=(utt2uniq)
fi
for f in spk2gender cmvn.scp; do
  if [ -f "$src/$f" ]; then
    rename_keys "$spk_prefix" "$spk_suffix" < "$src/$f" | sort -k1,1 > "$tmp/$f"
    written+=("$f")
  fi
done
for f in "${reco_files[@]}" frame_shift; do
  if [ -f "$src/$f" ]; then
    cp "$src/$f" "$tmp/$f"
    written+=("$f")
  fi
done
"$utils_dir/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" | sort -k1,1 > "$tmp/spk2utt"
written+=(spk2utt)

mkdir -p "$dest"
for f in utt2spk spk2utt wav.scp segments feats.scp text utt2dur utt2num_frames vad.scp utt2lang \
         utt2uniq spk2gender cmvn.scp reco2dur reco2file_and_channel frame_shift; do
  if [ ! -f "$tmp/$f" ]; then rm -f "$dest/$f"; fi
done
for f in "${written[@]}"; do
  cp "$tmp/$f" "$dest/.$f.tmp.$$"
  mv "$dest/.$f.tmp.$$" "$dest/$f"
done
echo "$me: copied $src to $dest ($(wc -l < "$dest/utt2spk") utterances)" >&2
