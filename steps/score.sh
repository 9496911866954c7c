#!/usr/bin/env bash
# Stage 5: score trial lists with the embeddings of stage 4.
#
# Cosine scoring with the official protocol (mean of the 10 x 10 crop cosines) and with one embedding per
# utterance, optional mean subtraction and AS-norm (cohort: per-speaker mean embeddings of the training
# set, top-N adaptive); EER and minDCF (p_target 0.01 and 0.05) per list. With calibration trials
# (--cal-emb, --cal-data: local/make_calibration_set.sh), every system also gets affine and QMF calibrated
# twins whose scores are log-likelihood ratios (Cllr, actual DCF; models in scores/calibration/, which
# `verify` uses); QMF reads the test utterances' durations from the utt2dur of the --eval-data dirs.
# Writes <exp-dir>/scores/<list>.<system>.score, <list>.result, <list>.det.png, threshold.json (EER point of
# the development trials, used by `python -m ssrfnet.bin.verify`), <exp-dir>/results.{md,json} and the
# results section of <exp-dir>/README.md.

# Begin configuration section.
cmd=run.pl
conf=             # option file with --eval-*/--asnorm-top-n/--p-targets (default <exp-dir>/config.conf if any)
asnorm=false      # true: also report AS-norm scores (needs --cohort and --cohort-data)
top_n=            # AS-norm cohort size (default: conf, else 300)
cohort=           # embeddings of the cohort set, e.g. exp/ssrfnet/embeddings/vox2_train
cohort_data=      # its data directory (utt2spk), e.g. data/vox2_train
subtract_mean=    # true|false: subtract the cohort mean embedding (default: conf, else false)
protocol=         # crops|utt: main score (default: conf, else crops)
dev_trials=       # development trials for the verification threshold (never a test list)
dev_emb=          # embeddings of the development utterances
model=            # model for the parameter/MAC columns (default <exp-dir>/final.pt)
cal_emb=          # embeddings of the calibration segments, e.g. exp/ssrfnet/embeddings/vox2_cal
cal_data=         # the calibration data dir (utt2dur, trials/calibration.kaldi), e.g. data/vox2_cal
eval_data=        # the test data dirs (their utt2dur), space-separated in one argument: "data/vox1 data/sitw"
sanity_results=   # results.json of the no-training sanity baseline, shown beside this model in results.md
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <exp-dir> <emb-dir> <trials> [<trials> ...]
e.g.: $0 --asnorm true --top-n 300 --cohort exp/ssrfnet/embeddings/vox2_train \\
        --cohort-data data/vox2_train --dev-emb exp/ssrfnet/embeddings/vox2_heldout \\
        --dev-trials data/vox2_heldout/trials/heldout.kaldi \\
        exp/ssrfnet exp/ssrfnet/embeddings/vox1 data/vox1/trials/vox1_O_cleaned.kaldi
Options:
  --cmd CMD            job launcher for the scoring job (default run.pl)
  --conf FILE          option file (default <exp-dir>/config.conf when present)
  --asnorm B           true|false: also AS-norm (default false)
  --top-n N            AS-norm top-N (default: conf, else 300)
  --cohort DIR         cohort embeddings (xvector.scp)
  --cohort-data DIR    cohort data dir (utt2spk)
  --subtract-mean B    subtract the cohort mean embedding (default: conf, else false)
  --protocol P         crops|utt (default: conf, else crops)
  --dev-trials FILE    development trials for scores/threshold.json
  --dev-emb DIR        embeddings of the development utterances
  --model FILE         model for the params/MACs columns (default <exp-dir>/final.pt)
  --cal-emb DIR        calibration-segment embeddings (with --cal-data: affine and QMF calibration)
  --cal-data DIR       calibration data dir (utt2dur, trials/calibration.kaldi)
  --eval-data \"DIRS\"   test data dirs whose utt2dur give the durations QMF needs (space-separated)
  --sanity-results F   results.json of the MFCC sanity baseline (exp/mfcc_stats/results.json)"

echo "$0 $*"
# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
exp=$1
emb=$2
shift 2

[ -f "$emb/xvector.scp" ] || { echo "$0: no $emb/xvector.scp (run steps/extract_embeddings.sh first)" >&2; exit 1; }
for t in "$@"; do
  [ -f "$t" ] || { echo "$0: no such trials file $t" >&2; exit 1; }
done
if [ -z "$conf" ] && [ -f "$exp/config.conf" ]; then conf=$exp/config.conf; fi
if [ "$asnorm" = true ]; then
  [ -f "$cohort/xvector.scp" ] || {
    echo "$0: AS-norm needs cohort embeddings: no $cohort/xvector.scp (extract them with" \
      "steps/extract_embeddings.sh, or run with --asnorm false)" >&2
    exit 1
  }
  [ -f "$cohort_data/utt2spk" ] || { echo "$0: AS-norm needs --cohort-data with utt2spk" >&2; exit 1; }
fi
if [ -n "$dev_trials" ]; then
  [ -f "$dev_trials" ] || { echo "$0: no such dev trials file $dev_trials" >&2; exit 1; }
  [ -f "$dev_emb/xvector.scp" ] || { echo "$0: no $dev_emb/xvector.scp for the dev trials" >&2; exit 1; }
fi

if [ -n "$cal_emb$cal_data" ]; then
  [ -f "$cal_emb/xvector.scp" ] || { echo "$0: no $cal_emb/xvector.scp for the calibration trials" >&2; exit 1; }
  [ -f "$cal_data/trials/calibration.kaldi" ] || {
    echo "$0: no $cal_data/trials/calibration.kaldi (local/make_calibration_set.sh writes it)" >&2; exit 1; }
fi
read -r -a eval_dirs <<< "$eval_data"
for d in "${eval_dirs[@]}"; do
  [ -f "$d/utt2dur" ] || { echo "$0: no $d/utt2dur (--eval-data: test data dirs with durations)" >&2; exit 1; }
done
[ -z "$sanity_results" ] || [ -f "$sanity_results" ] || {
  echo "$0: no such file $sanity_results (--sanity-results: stage 5 of the sanity baseline writes it)" >&2; exit 1; }

opts=(--asnorm "$asnorm")
[ -n "$conf" ] && opts+=(--conf "$conf")
[ -n "$top_n" ] && opts+=(--asnorm-top-n "$top_n")
[ -n "$cohort" ] && opts+=(--cohort-emb "$cohort")
[ -n "$cohort_data" ] && opts+=(--cohort-data "$cohort_data")
[ -n "$subtract_mean" ] && opts+=(--eval-subtract-mean "$subtract_mean")
[ -n "$protocol" ] && opts+=(--eval-protocol "$protocol")
[ -n "$dev_trials" ] && opts+=(--dev-trials "$dev_trials" --dev-emb "$dev_emb")
[ -n "$model" ] && opts+=(--model "$model")
[ -n "$cal_emb" ] && opts+=(--cal-emb "$cal_emb" --cal-data "$cal_data")
[ "${#eval_dirs[@]}" -gt 0 ] && opts+=(--eval-data "${eval_dirs[@]}")
[ -n "$sanity_results" ] && opts+=(--sanity-results "$sanity_results")

mkdir -p "$exp/log"
# a failure is named by the launcher (the log and its error line); the earlier scores and tables stay as they were
# shellcheck disable=SC2086  # $cmd holds the launcher and its options
$cmd "$exp/log/score.log" \
  python -m ssrfnet.bin.score "${opts[@]}" --exp-dir "$exp" --emb-dir "$emb" --trials "$@" || exit 1
cat "$exp/results.md"
utils/peak_memory.sh "$0" "$exp/log/score.log"
