#!/usr/bin/env bash
# Make a data directory holding a subset of the utterances of another one.
#
# Usage:
#   subset_data_dir.sh [--first|--last|--shortest|--per-spk|--speakers] <src-dir> <N> <dest-dir>
#   subset_data_dir.sh --utt-list <list> <src-dir> <dest-dir>
#   subset_data_dir.sh --spk-list <list> <src-dir> <dest-dir>
# e.g.: utils/subset_data_dir.sh --per-spk data/train 10 data/train_10per_spk
#
# Selection (N is a number of utterances, except with --per-spk):
#   (none)       N utterances spread evenly over the (sorted) utterance list:
#                deterministic, and all speakers are represented in proportion
#   --first      the first N utterances
#   --last       the last N utterances
#   --shortest   the N shortest utterances according to utt2dur
#   --per-spk    up to N utterances of every speaker, spread evenly over that
#                speaker's utterances
#   --speakers   whole speakers, in a fixed pseudo-random order, until at least
#                N utterances are selected
#   --utt-list   the utterances named in the first field of <list>
#   --spk-list   all utterances of the speakers named in the first field of <list>
# The destination gets utt2spk, a rebuilt spk2utt and the subset of every
# other known file of the source (wav.scp, segments, feats.scp, text, utt2dur,
# utt2num_frames, vad.scp, utt2lang, utt2uniq, spk2gender, cmvn.scp, reco2dur,
# reco2file_and_channel, frame_shift); these files are written atomically
# (temporary file, then mv), and stale copies of files the source lacks are
# removed from the destination. Utterance order is that of the source.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

usage() {
  echo "Usage: $me [--first|--last|--shortest|--per-spk|--speakers] <src-dir> <N> <dest-dir>" >&2
  echo "       $me --utt-list <list> <src-dir> <dest-dir>" >&2
  echo "       $me --spk-list <list> <src-dir> <dest-dir>" >&2
  echo "e.g.: $me --per-spk data/train 10 data/train_10per_spk" >&2
  exit 1
}

mode=even
list=
case "${1:-}" in
  --first|--last|--shortest|--per-spk|--speakers) mode=${1#--}; shift ;;
  --utt-list|--spk-list)
    mode=${1#--}
    [ "$#" -ge 2 ] || usage
    list=$2
    shift 2
    ;;
  --*) echo "$me: unknown option $1" >&2; usage ;;
esac

if [ -n "$list" ]; then
  [ "$#" -eq 2 ] || usage
  src=${1%/}
  dest=${2%/}
  if [ ! -f "$list" ]; then
    echo "$me: ERROR: list file $list does not exist" >&2
    exit 1
  fi
else
  [ "$#" -eq 3 ] || usage
  src=${1%/}
  num=$2
  dest=${3%/}
  if ! [[ "$num" =~ ^[1-9][0-9]*$ ]]; then
    echo "$me: ERROR: N must be a positive integer, got '$num'" >&2
    exit 1
  fi
fi
utils_dir=$(cd "$(dirname "$0")" && pwd)

if [ ! -s "$src/utt2spk" ]; then
  echo "$me: ERROR: $src/utt2spk does not exist or is empty" >&2
  exit 1
fi
if [ -d "$dest" ] && [ "$(cd "$src" && pwd)" = "$(cd "$dest" && pwd)" ]; then
  echo "$me: ERROR: source and destination are the same directory ($src)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nutt=$(wc -l < "$src/utt2spk")
if [ "$mode" = first ] || [ "$mode" = last ] || [ "$mode" = shortest ] || [ "$mode" = even ]; then
  if [ "$num" -gt "$nutt" ]; then
    echo "$me: ERROR: cannot select $num utterances from $src, which has only $nutt" >&2
    exit 1
  fi
fi

case "$mode" in
  utt-list) awk 'NF > 0 { print $1 }' "$list" > "$tmp/keep" ;;
  spk-list) "$utils_dir/filter_scp.pl" -f 2 "$list" "$src/utt2spk" | awk '{ print $1 }' > "$tmp/keep" ;;
  first) awk -v n="$num" 'NR <= n { print $1 }' "$src/utt2spk" > "$tmp/keep" ;;
  last) awk -v s="$((nutt - num))" 'NR > s { print $1 }' "$src/utt2spk" > "$tmp/keep" ;;
  even)
    awk -v n="$num" -v m="$nutt" 'BEGIN { for (i = 0; i < n; i++) want[int(i * m / n) + 1] = 1 }
      (NR in want) { print $1 }' "$src/utt2spk" > "$tmp/keep"
    ;;
  shortest)
    if [ ! -f "$src/utt2dur" ]; then
      echo "$me: ERROR: --shortest needs $src/utt2dur" >&2
      exit 1
    fi
    sort -k2,2g -k1,1 "$src/utt2dur" | awk -v n="$num" 'NR <= n { print $1 }' > "$tmp/keep"
    ;;
  per-spk)
    "$utils_dir/utt2spk_to_spk2utt.pl" "$src/utt2spk" | awk -v n="$num" '{
        m = NF - 1
        if (m <= n) { for (i = 2; i <= NF; i++) print $i }
        else { for (i = 0; i < n; i++) print $(int(i * m / n) + 2) }
      }' > "$tmp/keep"
    ;;
  speakers)
    "$utils_dir/utt2spk_to_spk2utt.pl" "$src/utt2spk" | perl -e '
      use List::Util qw(shuffle);
      srand(777);
      my $n = shift;
      my @spk = <STDIN>;
      my $got = 0;
      for my $line (shuffle @spk) {
        last if $got >= $n;
        my ($s, @u) = split " ", $line;
        print "$_\n" for @u;
        $got += @u;
      }' "$num" > "$tmp/keep"
    ;;
esac

"$utils_dir/filter_scp.pl" "$tmp/keep" "$src/utt2spk" > "$tmp/utt2spk"
nkeep=$(wc -l < "$tmp/utt2spk")
if [ "$nkeep" -eq 0 ]; then
  echo "$me: ERROR: no utterances selected from $src" >&2
  exit 1
fi
if [ "$mode" = utt-list ]; then
  nmiss=$("$utils_dir/filter_scp.pl" --exclude "$src/utt2spk" "$tmp/keep" | wc -l)
  if [ "$nmiss" -gt 0 ]; then
    echo "$me: WARNING: $nmiss utterance(s) of $list are not in $src" >&2
  fi
fi

written=(utt2spk spk2utt)
"$utils_dir/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" | sort -k1,1 > "$tmp/spk2utt"
awk '{ print $2 }' "$tmp/utt2spk" | sort -u > "$tmp/spks"

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
    "$utils_dir/filter_scp.pl" "$tmp/utt2spk" "$src/$f" > "$tmp/$f"
    written+=("$f")
  fi
done
for f in spk2gender cmvn.scp; do
  if [ -f "$src/$f" ]; then
    "$utils_dir/filter_scp.pl" "$tmp/spks" "$src/$f" > "$tmp/$f"
    written+=("$f")
  fi
done
if [ -f "$src/segments" ]; then
  awk '{ print $2 }' "$tmp/segments" | sort -u > "$tmp/recos"
  for f in "${reco_files[@]}"; do
    if [ -f "$src/$f" ]; then
      "$utils_dir/filter_scp.pl" "$tmp/recos" "$src/$f" > "$tmp/$f"
      written+=("$f")
    fi
  done
fi
if [ -f "$src/frame_shift" ]; then
  cp "$src/frame_shift" "$tmp/frame_shift"
  written+=(frame_shift)
fi

mkdir -p "$dest"
for f in utt2spk spk2utt wav.scp segments feats.scp text utt2dur utt2num_frames vad.scp utt2lang \
         utt2uniq spk2gender cmvn.scp reco2dur reco2file_and_channel frame_shift; do
  if [ ! -f "$tmp/$f" ]; then rm -f "$dest/$f"; fi
done
for f in "${written[@]}"; do
  cp "$tmp/$f" "$dest/.$f.tmp.$$"
  mv "$dest/.$f.tmp.$$" "$dest/$f"
done

nspk=$(wc -l < "$dest/spk2utt")
echo "$me: selected $nkeep of $nutt utterances ($nspk speakers) from $src into $dest" >&2
