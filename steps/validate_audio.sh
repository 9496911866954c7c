#!/usr/bin/env bash
# Check the audio of a data directory before a long stage reads it (steps/train.sh, steps/extract_embeddings.sh
# and utils/validate_data_dir.sh --audio call this): every wav.scp entry is in utt2spk, exists, is not empty,
# has a readable header, 16 kHz and samples; pipes are run and decoded (--decode all also decodes the files
# and finds NaN/Inf samples and silence). --nj jobs through --cmd, one share of the sorted keys each.
#
# Writes <out-dir>/bad_utts ("<utt> <reason>" per unusable entry), <out-dir>/notes (odd but usable entries:
# several channels, silence, shorter than --crop-seconds), <out-dir>/checked (what was checked: an unchanged
# data dir is not checked again) and, with --skip-bad true and bad entries, <out-dir>/data: the data dir
# without them. Bad entries are an error (exit 1, the first ones named on the console) unless --skip-bad
# true; the caller then reads <out-dir>/data when <out-dir>/bad_utts is not empty.

# Begin configuration section.
cmd=run.pl
nj=4
skip_bad=false     # true: leave the unusable entries out (listed in <out-dir>/bad_utts) instead of failing
decode=pipes       # none (headers only) | pipes (default) | all (decode every file: NaN/Inf, silence)
crop_seconds=0     # note entries shorter than this many seconds (0: no note)
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <data-dir> <out-dir>
e.g.: $0 --cmd run.pl --nj 8 data/vox2_train exp/ssrfnet/audio_check
Options:
  --cmd CMD            job launcher (default run.pl)
  --nj N               parallel jobs (default 4)
  --skip-bad B         true|false: leave unusable entries out instead of failing (default false)
  --decode D           none|pipes|all: what is decoded besides reading headers (default pipes)
  --crop-seconds X     note entries shorter than X s (default 0: no note)"

echo "$0 $*"
# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "$help_message" >&2
  exit 1
fi
data=$1
dir=$2

[ -f "$data/wav.scp" ] || { echo "$0: no such file $data/wav.scp" >&2; exit 1; }
[ -s "$data/wav.scp" ] || { echo "$0: $data/wav.scp is empty (no utterances)" >&2; exit 1; }
case "$skip_bad" in true|false) ;; *) echo "$0: --skip-bad must be true or false, got '$skip_bad'" >&2; exit 1 ;; esac
num_utts=$(wc -l < "$data/wav.scp")
[ "$nj" -le "$num_utts" ] || nj=$num_utts

opts=(--data "$data" --out-dir "$dir" --decode "$decode" --crop-seconds "$crop_seconds")
mkdir -p "$dir/log"
if python -m ssrfnet.bin.validate_audio "${opts[@]}" --is-checked && [ -f "$dir/num_jobs" ]; then
  nj=$(cat "$dir/num_jobs")
  echo "$0: $data was checked before and has not changed ($dir/checked)"
else
  rm -f "$dir/checked" "$dir/num_jobs" "$dir"/split/bad.* "$dir"/split/notes.*
  # shellcheck disable=SC2086  # $cmd holds the launcher and its options
  $cmd JOB=1:"$nj" "$dir/log/validate_audio.JOB.log" \
    python -m ssrfnet.bin.validate_audio "${opts[@]}" --job JOB --num-jobs "$nj" || exit 1
  echo "$nj" > "$dir/num_jobs"
fi
python -m ssrfnet.bin.validate_audio "${opts[@]}" --summarize --num-jobs "$nj" --skip-bad "$skip_bad" || exit 1

if [ -s "$dir/bad_utts" ]; then
  cut -d' ' -f1 "$dir/bad_utts" | sort -u > "$dir/bad_keys"
  utils/filter_scp.pl --exclude "$dir/bad_keys" "$data/wav.scp" | cut -d' ' -f1 > "$dir/good_utts"
  [ -s "$dir/good_utts" ] || { echo "$0: every entry of $data/wav.scp is unusable (see $dir/bad_utts)" >&2; exit 1; }
  if [ -f "$data/utt2spk" ]; then
    utils/subset_data_dir.sh --utt-list "$dir/good_utts" "$data" "$dir/data" 2> "$dir/log/subset.log" || {
      cat "$dir/log/subset.log" >&2; exit 1; }
  else
    mkdir -p "$dir/data"
    utils/filter_scp.pl "$dir/good_utts" "$data/wav.scp" > "$dir/data/wav.scp"
  fi
  echo "$0: $(wc -l < "$dir/bad_utts") unusable entries left out (--skip-bad true); data without them in $dir/data"
fi
