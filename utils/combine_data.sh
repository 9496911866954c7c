#!/usr/bin/env bash
# Combine several data directories into one.
#
# Usage: combine_data.sh [options] <dest-dir> <src-dir1> <src-dir2> ...
# e.g.:  utils/combine_data.sh --extra-files "utt2dur" data/train_aug data/train data/train_reverb
# Options:
#   --extra-files "a b"   more utterance-keyed files to combine; each must exist
#                         in every source
#   --skip-fix true|false if false (default) run utils/fix_data_dir.sh on the
#                         result, which drops utterances missing from some file
#
# Standard files (utt2spk, wav.scp, segments, feats.scp, text, utt2dur,
# utt2num_frames, vad.scp, utt2lang, utt2uniq, spk2gender, cmvn.scp, reco2dur,
# reco2file_and_channel) are combined when every source has them; a file only
# some sources have is left out with a warning. spk2utt is rebuilt.
# An utterance id that occurs in more than one source is an error (rename with
# utils/copy_data_dir.sh --utt-prefix/--utt-suffix first). The same speaker or
# recording may occur in several sources; for speaker- and recording-keyed
# files identical lines are merged, conflicting ones are an error.
# Mixing sources with and without segments is not supported.
# Results are computed in a temporary directory and moved into place.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

extra_files=
skip_fix=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --extra-files|--skip-fix)
      [ "$#" -ge 2 ] || { echo "$me: option $1 needs a value" >&2; exit 1; }
      if [ "$1" = --extra-files ]; then extra_files=$2; else skip_fix=$2; fi
      shift 2
      ;;
    --*) echo "$me: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
case "$skip_fix" in true|false) ;; *) echo "$me: --skip-fix needs true or false" >&2; exit 1 ;; esac

if [ "$#" -lt 2 ]; then
  echo "Usage: $me [--extra-files \"<files>\"] [--skip-fix true|false] <dest-dir> <src-dir1> <src-dir2> ..." >&2
  echo "e.g.: $me --extra-files \"utt2dur\" data/train_aug data/train data/train_reverb" >&2
  exit 1
fi
dest=${1%/}
shift
srcs=()
for s in "$@"; do srcs+=("${s%/}"); done
utils_dir=$(cd "$(dirname "$0")" && pwd)

nseg=0
for s in "${srcs[@]}"; do
  if [ ! -s "$s/utt2spk" ]; then
    echo "$me: ERROR: $s/utt2spk does not exist or is empty" >&2
    exit 1
  fi
  if [ -d "$dest" ] && [ "$(cd "$s" && pwd)" = "$(cd "$dest" && pwd)" ]; then
    echo "$me: ERROR: destination $dest is also a source" >&2
    exit 1
  fi
  if [ -f "$s/segments" ]; then nseg=$((nseg + 1)); fi
done
if [ "$nseg" -ne 0 ] && [ "$nseg" -ne "${#srcs[@]}" ]; then
  echo "$me: ERROR: some sources have a segments file and some do not; not supported" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Duplicate utterance ids across sources.
for s in "${srcs[@]}"; do awk -v src="$s" '{ print $1, src }' "$s/utt2spk"; done |
  sort -k1,1 -s | awk '$1 == prev { printf("%s %s %s\n", $1, prevsrc, $2) } { prev = $1; prevsrc = $2 }' > "$tmp/dups"
if [ -s "$tmp/dups" ]; then
  read -r utt a b < "$tmp/dups"
  echo "$me: ERROR: $(wc -l < "$tmp/dups") utterance id(s) occur in more than one source, e.g. '$utt' in $a and $b" >&2
  exit 1
fi

# name:kind pairs; kind is utt (keys must be unique) or shared (identical lines merged)
specs=(utt2spk:utt feats.scp:utt text:utt utt2dur:utt utt2num_frames:utt vad.scp:utt utt2lang:utt
       utt2uniq:utt spk2gender:shared cmvn.scp:shared)
if [ "$nseg" -gt 0 ]; then
  specs+=(segments:utt wav.scp:shared reco2dur:shared reco2file_and_channel:shared)
else
  specs+=(wav.scp:utt)
fi
for f in $extra_files; do
  for s in "${srcs[@]}"; do
    if [ ! -f "$s/$f" ]; then
      echo "$me: ERROR: extra file $f is missing in $s" >&2
      exit 1
    fi
  done
  specs+=("$f:utt")
done

written=()
for spec in "${specs[@]}"; do
  f=${spec%:*}
  kind=${spec##*:}
  case " ${written[*]} " in *" $f "*) continue ;; esac
  have=0
  for s in "${srcs[@]}"; do
    if [ -f "$s/$f" ]; then have=$((have + 1)); fi
  done
  if [ "$have" -eq 0 ]; then continue; fi
  if [ "$have" -lt "${#srcs[@]}" ]; then
    echo "$me: WARNING: $f exists in only $have of ${#srcs[@]} sources; not combining it" >&2
    continue
  fi
  for s in "${srcs[@]}"; do cat "$s/$f"; done | sort -k1,1 -s > "$tmp/$f.all"
  if [ "$kind" = shared ]; then
    awk '$1 == key { if ($0 != kept) { print $1; exit } next } { key = $1; kept = $0 }' "$tmp/$f.all" > "$tmp/conflict"
    if [ -s "$tmp/conflict" ]; then
      echo "$me: ERROR: key '$(cat "$tmp/conflict")' has different contents in $f of different sources" >&2
      exit 1
    fi
    awk '$1 != key { print } { key = $1 }' "$tmp/$f.all" > "$tmp/$f"
  else
    dup=$(awk '$1 == key { print $1; exit } { key = $1 }' "$tmp/$f.all")
    if [ -n "$dup" ]; then
      echo "$me: ERROR: key '$dup' occurs more than once in the combined $f" >&2
      exit 1
    fi
    mv "$tmp/$f.all" "$tmp/$f"
  fi
  rm -f "$tmp/$f.all"
  written+=("$f")
done
"$utils_dir/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" | sort -k1,1 > "$tmp/spk2utt"
written+=(spk2utt)

mkdir -p "$dest"
for f in utt2spk spk2utt wav.scp segments feats.scp text utt2dur utt2num_frames vad.scp utt2lang \
         utt2uniq spk2gender cmvn.scp reco2dur reco2file_and_channel $extra_files; do
  if [ ! -f "$tmp/$f" ]; then rm -f "$dest/$f"; fi
done
for f in "${written[@]}"; do
  cp "$tmp/$f" "$dest/.$f.tmp.$$"
  mv "$dest/.$f.tmp.$$" "$dest/$f"
done

echo "$me: combined ${#srcs[@]} directories into $dest ($(wc -l < "$dest/utt2spk") utterances)" >&2
if ! $skip_fix; then
  "$utils_dir/fix_data_dir.sh" --utt-extra-files "$extra_files" "$dest"
fi
