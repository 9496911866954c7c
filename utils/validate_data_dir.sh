#!/usr/bin/env bash
# Check that a Kaldi data directory is well formed (Kaldi's rules).
#
# Usage: validate_data_dir.sh [options] <data-dir>
# e.g.:  utils/validate_data_dir.sh --no-text --no-feats data/train
# Options:
#   --no-text       do not require (or check) 'text'
#   --no-feats      do not require (or check) 'feats.scp'
#   --no-wav        do not check 'wav.scp'
#   --no-spk-sort   do not require utt2spk to be sorted by speaker as well
#   --non-print     accepted for compatibility; text is not checked for
#                   non-printable characters by this implementation
#   --audio         also check every wav.scp entry's audio (steps/validate_audio.sh:
#                   header, 16 kHz, samples, key in utt2spk), in --nj jobs through
#                   --cmd (defaults 4 and run.pl); its findings go to --audio-dir
#                   (default: a temporary directory)
#
# Rules checked:
#  * utt2spk exists and is non-empty (an empty data dir is an error);
#  * every known file present is LC_ALL=C sorted on its first field, has
#    unique keys, no CR characters and ends in a newline;
#  * utt2spk has exactly 2 fields per line and, unless --no-spk-sort, the
#    utterance order equals the order of `sort -k2` (sorted by speaker too;
#    the usual fix is to make the speaker id a prefix of the utterance id);
#  * spk2utt exists and equals utils/utt2spk_to_spk2utt.pl < utt2spk (sorted
#    by speaker; the same thing when utt2spk is speaker-sorted);
#  * the utterance lists of wav.scp (without segments), segments, feats.scp,
#    text, utt2dur, utt2num_frames and vad.scp (each if present) equal the
#    utterance list of utt2spk; with segments, every recording named in it is
#    in wav.scp;
#  * wav.scp lines contain no '~', and a value that is a plain path (one
#    token, not a pipe ending in '|', not an ark offset) names an existing
#    file; utt2dur/utt2num_frames hold positive numbers;
#  * a single speaker only gives a warning.
# Every error names the file and the first offending line or key.
# Exit status 1 on any error.

set -euo pipefail
export LC_ALL=C

me=$(basename "$0")
echo "$0 $*" >&2

no_text=false
no_feats=false
no_wav=false
no_spk_sort=false
audio=false
nj=4
cmd=run.pl
audio_dir=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --audio) audio=true ;;
    --nj|--cmd|--audio-dir)
      [ "$#" -ge 2 ] || { echo "$me: option $1 needs a value" >&2; exit 1; }
      case "$1" in --nj) nj=$2 ;; --cmd) cmd=$2 ;; --audio-dir) audio_dir=$2 ;; esac
      shift ;;
    --no-text) no_text=true ;;
    --no-feats) no_feats=true ;;
    --no-wav) no_wav=true ;;
    --no-spk-sort) no_spk_sort=true ;;
    --non-print) ;;
    --*) echo "$me: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
  shift
done

if [ "$#" -ne 1 ]; then
  echo "Usage: $me [--no-text] [--no-feats] [--no-wav] [--no-spk-sort] [--audio [--nj N] [--cmd CMD]] <data-dir>" >&2
  echo "e.g.: $me --no-text --no-feats data/train" >&2
  echo "      $me --no-text --no-feats --audio --nj 8 --cmd run.pl data/train" >&2
  exit 1
fi
data=${1%/}

if [ ! -d "$data" ]; then
  echo "$me: ERROR: no such directory $data" >&2
  exit 1
fi

utils_dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nerr=0
err() {
  echo "$me: ERROR: $*" >&2
  nerr=$((nerr + 1))
}

if [ ! -s "$data/utt2spk" ]; then
  if [ -e "$data/utt2spk" ]; then
    err "$data/utt2spk is empty (empty data directory)"
  else
    err "$data/utt2spk does not exist (empty or incomplete data directory)"
  fi
  exit 1
fi

# Format checks of one table file: final newline, no CR, sorted unique keys.
check_table() {
  local f=$1 msg
  if [ ! -s "$f" ]; then
    err "$f is empty"
    return
  fi
  if [ -n "$(tail -c 1 "$f")" ]; then
    err "$f does not end with a newline"
  fi
  if grep -q $'\r' "$f"; then
    err "$f contains CR characters (Windows line endings), first at line $(grep -n -m1 $'\r' "$f" | cut -d: -f1)"
  fi
  msg=$(awk '
    NF == 0 { printf("empty line at line %d\n", NR); exit }
    {
      k = $1 ""
      if (NR > 1 && k < prev) { printf("not sorted (LC_ALL=C): line %d key %s comes after %s\n", NR, k, prev); exit }
      if (NR > 1 && k == prev) { printf("duplicate key %s at line %d\n", k, NR); exit }
      prev = k
    }' "$f")
  if [ -n "$msg" ]; then
    err "$f: $msg"
  fi
}

files=(utt2spk spk2utt wav.scp segments feats.scp text utt2dur utt2num_frames vad.scp
       spk2gender utt2lang utt2uniq reco2dur reco2file_and_channel cmvn.scp)
for name in "${files[@]}"; do
  case "$name" in
    text) $no_text && continue ;;
    feats.scp) $no_feats && continue ;;
    wav.scp) $no_wav && continue ;;
  esac
  if [ -e "$data/$name" ]; then
    check_table "$data/$name"
  fi
done
if ! $no_text && [ ! -e "$data/text" ]; then
  err "$data/text does not exist (use --no-text if the data has no transcripts)"
fi
if ! $no_feats && [ ! -e "$data/feats.scp" ]; then
  err "$data/feats.scp does not exist (use --no-feats before feature extraction)"
fi
if ! $no_wav && $no_feats && [ ! -e "$data/wav.scp" ]; then
  err "$data/wav.scp does not exist"
fi

bad=$(awk 'NF != 2 { printf("line %d has %d fields (need 2): %s", NR, NF, $0); exit }' "$data/utt2spk")
[ -z "$bad" ] || err "$data/utt2spk: $bad"

if [ "$nerr" -gt 0 ]; then
  echo "$me: $nerr error(s) in $data" >&2
  exit 1
fi

awk '{print $1}' "$data/utt2spk" > "$tmp/utts"

if ! $no_spk_sort; then
  sort -k2,2 -k1,1 "$data/utt2spk" | awk '{print $1}' > "$tmp/utts.by_spk"
  if ! cmp -s "$tmp/utts" "$tmp/utts.by_spk"; then
    first=$(paste -d' ' "$tmp/utts" "$tmp/utts.by_spk" | awk '!done && $1 != $2 { printf("line %d: %s (sorted by speaker it would be %s)", NR, $1, $2); done = 1 }')
    err "$data/utt2spk is not in sorted order when sorted first on speaker-id (make the speaker id a prefix of the utterance id, or use --no-spk-sort); first difference at $first"
  fi
fi

if [ ! -e "$data/spk2utt" ]; then
  err "$data/spk2utt does not exist (create it with utils/utt2spk_to_spk2utt.pl or utils/fix_data_dir.sh)"
else
  "$utils_dir/utt2spk_to_spk2utt.pl" "$data/utt2spk" | sort -k1,1 > "$tmp/spk2utt"
  awk '{$1 = $1; print}' "$data/spk2utt" > "$tmp/spk2utt.given"
  if ! cmp -s "$tmp/spk2utt" "$tmp/spk2utt.given"; then
    first=$({ diff "$tmp/spk2utt" "$tmp/spk2utt.given" || true; } | awk '!done && /^[<>]/ { sub(/^[<>] /, ""); print $1; done = 1 }')
    line=$(awk -v s="$first" '$1 == s { print NR; exit }' "$tmp/spk2utt.given")
    err "$data/spk2utt does not match utt2spk_to_spk2utt.pl < utt2spk; first mismatch at speaker '$first'${line:+ (line $line)}"
  fi
fi

# Compare the key list of a file with the utterance list of utt2spk.
compare_keys() {
  local f=$1 expect=$2 what=$3 extra missing
  awk '{print $1}' "$f" > "$tmp/keys"
  if ! cmp -s "$tmp/keys" "$expect"; then
    extra=$(comm -23 "$tmp/keys" "$expect" | sed -n 1p)
    missing=$(comm -13 "$tmp/keys" "$expect" | sed -n 1p)
    if [ -n "$extra" ]; then
      err "$f has key '$extra' (line $(awk -v k="$extra" '$1 == k {print NR; exit}' "$f")) that is not in $what"
    fi
    if [ -n "$missing" ]; then
      err "$f lacks key '$missing' that is in $what"
    fi
  fi
}

utt_files=(segments feats.scp text utt2dur utt2num_frames vad.scp)
[ -e "$data/segments" ] || utt_files=(wav.scp "${utt_files[@]}")
for name in "${utt_files[@]}"; do
  case "$name" in
    text) $no_text && continue ;;
    feats.scp) $no_feats && continue ;;
    wav.scp) $no_wav && continue ;;
  esac
  if [ -e "$data/$name" ]; then
    compare_keys "$data/$name" "$tmp/utts" "$data/utt2spk"
  fi
done

if [ -e "$data/segments" ]; then
  bad=$(awk 'NF != 4 { printf("line %d has %d fields (need 4): %s", NR, NF, $0); exit }' "$data/segments")
  [ -z "$bad" ] || err "$data/segments: $bad"
  if ! $no_wav && [ -e "$data/wav.scp" ]; then
    missing=$(awk 'NR == FNR { have[$1] = 1; next } !($2 in have) { printf("line %d: recording %s", FNR, $2); exit }' \
      "$data/wav.scp" "$data/segments")
    [ -z "$missing" ] || err "$data/segments names a recording not in wav.scp, at $missing"
  fi
fi

if ! $no_wav && [ -e "$data/wav.scp" ]; then
  tilde=$(awk '/~/ { printf("line %d: %s", NR, $0); exit }' "$data/wav.scp")
  [ -z "$tilde" ] || err "$data/wav.scp contains '~' (not allowed; expand home directories), at $tilde"
  bad=$(awk 'NF < 2 { printf("line %d has no value: %s", NR, $0); exit }' "$data/wav.scp")
  [ -z "$bad" ] || err "$data/wav.scp: $bad"
  # Plain paths must exist; pipes ('... |') and ark offsets are not checked.
  missing=$(perl -ne '
    my @f = split " ";
    next unless @f == 2;
    my $p = $f[1];
    next if $p =~ /\|$/ || $p =~ /:\d+$/;
    if (!-e $p) { $n++; $first = "line $. (key $f[0]): $p" unless defined $first; }
    END { print "$n file(s) missing, first at $first" if $n; }' "$data/wav.scp")
  [ -z "$missing" ] || err "$data/wav.scp: audio file does not exist: $missing"
fi

for name in utt2dur utt2num_frames; do
  if [ -e "$data/$name" ]; then
    bad=$(awk 'NF != 2 || !($2 ~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/) || $2 + 0 <= 0 {
                 printf("line %d: %s", NR, $0); exit }' "$data/$name")
    [ -z "$bad" ] || err "$data/$name needs '<utt> <positive number>', bad $bad"
  fi
done

if [ "$nerr" -gt 0 ]; then
  echo "$me: $nerr error(s) in $data" >&2
  exit 1
fi

if $audio && ! $no_wav; then
  steps_dir=$(cd "$utils_dir/../steps" && pwd)
  "$steps_dir/validate_audio.sh" --cmd "$cmd" --nj "$nj" "$data" "${audio_dir:-$tmp/audio}" >&2 || {
    echo "$me: the audio of $data failed the check" >&2
    exit 1
  }
fi

nspk=$(awk '{print $2}' "$data/utt2spk" | sort -u | wc -l)
nutt=$(wc -l < "$data/utt2spk")
if [ "$nspk" -eq 1 ]; then
  echo "$me: WARNING: $data has only one speaker" >&2
fi
echo "$me: Successfully validated data-directory $data ($nutt utterances, $nspk speakers)" >&2
