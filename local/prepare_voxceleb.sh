#!/usr/bin/env bash
# Stage 0: Kaldi data directories for VoxCeleb1 (all of it: test trials E/H use dev speakers too) and
# VoxCeleb2 dev, a held-out development split of VoxCeleb2 dev, and the cleaned VoxCeleb1 trial lists.
# Works the same on the real corpora and on the embedded mini corpus.
#
# Produces under <data-dir>:
#   vox1/{wav.scp,utt2spk,spk2utt,utt2dur}, vox1/trials/vox1_{O,E,H}_cleaned.kaldi (for the lists present)
#   vox2_dev/     all VoxCeleb2 dev utterances
#   vox2_train/   vox2_dev minus --num-heldout-spk speakers (used for training)
#   vox2_heldout/ those speakers, with trials/heldout.kaldi and heldout_speakers (validation during training)
# Everything is built beside the targets and renamed into place on success; an unchanged directory is
# left untouched, a changed one is replaced and the previous version kept as <dir>.bak.
#
# Three steps (ssrfnet/prep/voxceleb.py): a plan (one scan of the trees, sample counts of an earlier run
# reused), the per-file work (m4a conversion, sample counts) as a job array `$cmd JOB=1:nj` with one log
# per job under <work-dir>/log, and a merge that writes, checks and installs the data directories. A
# re-run on an unchanged corpus has no per-file work. A failed job leaves the work dir for its log; the
# next run redoes only the shares whose results are missing (finished conversions are always kept).

# Begin configuration section.
cmd=run.pl            # job launcher for the per-file jobs (run.pl, queue.pl, slurm.pl)
nj=4                  # jobs for the per-file work (decoding m4a pipes for durations, m4a conversion)
work_dir=             # plan, job shares and logs (default <data-dir>/.prepare_voxceleb.work)
keep_work=false       # true: keep the work dir after success (its logs hold per-step timings)
m4a_mode=pipe         # pipe: ffmpeg pipe entries in wav.scp; convert: convert once to wav under convert_dir
convert_dir=          # --m4a-mode convert output (default <vox2-root>/dev/wav)
num_heldout_spk=40    # VoxCeleb2 dev speakers held out for development trials (0: no held-out split)
heldout_trials=2000   # at most this many held-out trials (half target, half non-target)
seed=777              # chooses the held-out speakers and trials
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <vox1-root> <vox2-root> <data-dir>
e.g.: $0 --nj 8 /corpora/voxceleb1 /corpora/voxceleb2 data
 <vox1-root> holds wav/idXXXXX/<session>/NNNNN.wav and veri_test2.txt, list_test_all2.txt, list_test_hard2.txt
 <vox2-root> holds dev/aac/idXXXXX/<session>/NNNNN.m4a (or .wav)
Options:
  --cmd <launcher>         # job launcher for the per-file jobs (default $cmd)
  --nj <n>                 # per-file jobs (default $nj)
  --work-dir <dir>         # plan, shares and job logs (default <data-dir>/.prepare_voxceleb.work)
  --keep-work <true|false> # keep the work dir after success (default $keep_work)
  --m4a-mode <pipe|convert> # how m4a audio is read (default $m4a_mode)
  --convert-dir <dir>      # wav output for --m4a-mode convert (default <vox2-root>/dev/wav)
  --num-heldout-spk <n>    # VoxCeleb2 speakers held out for development (default $num_heldout_spk)
  --heldout-trials <n>     # maximum held-out trials (default $heldout_trials)
  --seed <n>               # seed of the held-out split (default $seed)"

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi

vox1_root=$1
vox2_root=$2
data=$3

for dir in "$vox1_root" "$vox2_root"; do
  [ -d "$dir" ] || { echo "$0: no such directory: $dir" >&2; exit 1; }
done

case "$keep_work" in
  true|false) ;;
  *) echo "$0: --keep-work takes true or false, not '$keep_work'" >&2; exit 1 ;;
esac
[ -n "$work_dir" ] || work_dir=$data/.prepare_voxceleb.work

now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }  # EPOCHREALTIME: bash 5
elapsed() {  # seconds since the time $1
  awk -v a="$1" -v b="$(now)" 'BEGIN { printf("%.2f", b - a) }'
}

start=$(now)
python -m ssrfnet.bin.prepare_voxceleb_jobs plan --nj "$nj" --m4a-mode "$m4a_mode" \
  ${convert_dir:+--convert-dir "$convert_dir"} --num-heldout-spk "$num_heldout_spk" \
  --heldout-trials "$heldout_trials" --seed "$seed" "$vox1_root" "$vox2_root" "$data" "$work_dir"
echo "$0: plan took $(elapsed "$start") s"

num_jobs=$(cat "$work_dir/num_jobs")
if [ "$num_jobs" -gt 0 ]; then
  start=$(now)
  rm -f "$work_dir"/log/files.*.log
  # shellcheck disable=SC2086  # $cmd holds the launcher and its options
  if ! $cmd JOB=1:"$num_jobs" "$work_dir/log/files.JOB.log" \
      python -m ssrfnet.bin.prepare_voxceleb_jobs job --job JOB "$work_dir"; then
    grep -h "error:" "$work_dir"/log/files.*.log | head -n 5 >&2 || true
    echo "$0: per-file jobs failed; see $work_dir/log/files.*.log (a re-run redoes only the failed shares)" >&2
    exit 1
  fi
  echo "$0: $num_jobs per-file job(s) took $(elapsed "$start") s"
fi

start=$(now)
python -m ssrfnet.bin.prepare_voxceleb_jobs merge "$work_dir"
echo "$0: merge took $(elapsed "$start") s"
$keep_work || rm -rf "$work_dir"

start=$(now)
sets="vox1 vox2_dev vox2_train"
[ "$num_heldout_spk" -gt 0 ] && sets="$sets vox2_heldout"
for set in $sets; do
  utils/validate_data_dir.sh --no-text --no-feats "$data/$set"
done
echo "$0: Kaldi validation took $(elapsed "$start") s"
echo "$0: prepared $sets in $data"
