#!/usr/bin/env bash
# Stage 4: speaker embeddings of every utterance of a data directory.
#
# Writes <out-dir>/xvector.{scp} (one 192-d vector per utterance) and, unless --write-crops false,
# <out-dir>/crops.scp (a num_crops x 192 matrix per utterance: the official 10 x 3 s crops at
# int(linspace(0, len-48000, 10)), files <= 3 s wrap-padded and replicated). For fixed-length models
# (the faithful SV-Mixer/SSRFNet) the utterance vector is the mean of the crop embeddings; for
# length-agnostic models it is the embedding of the whole utterance.
# The data directory is split into --nj contiguous shares (sorted keys), one job each; the merged
# scp files are written only when every utterance of wav.scp has an embedding.

# Begin configuration section.
cmd=run.pl
nj=4
gpu=0            # 1: ask the launcher for a GPU per job (--gpu 1); the job uses CUDA when visible
conf=            # option file (e.g. exp/ssrfnet/config.conf) with the --eval-* options
num_crops=       # overrides --eval-num-crops of the conf
write_crops=     # true|false, overrides --eval-write-crops of the conf (false for large cohort sets)
batch_size=      # crops per forward pass, overrides --eval-batch-size
num_threads=1    # torch CPU threads per job (onnxruntime's too)
backend=torch    # torch | onnxruntime (runs the checked export that stage 6 wrote beside the model; CPU)
quantize=none    # none | int8 (with --backend onnxruntime: model.int8.onnx)
stage=0
check_audio=true # check every wav.scp entry before extraction starts (steps/validate_audio.sh)
check_cmd=       # launcher of the audio check jobs (default: --cmd)
skip_bad=false   # true: embed without the unusable entries (listed in <out-dir>/audio_check/bad_utts)
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <model.pt> <data-dir> <out-dir>
e.g.: $0 --cmd run.pl --nj 8 --conf exp/ssrfnet/config.conf exp/ssrfnet/final.pt data/vox1 \\
        exp/ssrfnet/embeddings/vox1
Options:
  --cmd CMD            job launcher (run.pl, slurm.pl, queue.pl; default run.pl)
  --nj N               number of parallel jobs (default 4)
  --gpu 0|1            request a GPU per job from the launcher (default 0)
  --conf FILE          option file with --eval-* options (default: none, built-in defaults)
  --num-crops N        crops per utterance (default: conf, else 10)
  --write-crops B      true|false: write crops.{ark,scp} (default: conf, else true)
  --batch-size N       crops per forward pass (default: conf, else 40)
  --num-threads N      torch / onnxruntime threads per job (default 1)
  --backend B          torch|onnxruntime (default torch; onnxruntime needs stage 6's export)
  --quantize Q         none|int8 (int8: onnxruntime on model.int8.onnx)
  --stage N            0: extract and merge; 1: merge only
  --check-audio B      true|false: check the audio first (default true)
  --check-cmd CMD      launcher of the audio check jobs (default: --cmd)
  --skip-bad B         true|false: leave unusable entries out instead of failing (default false)"

echo "$0 $*"
# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
model=$1
data=$2
dir=$3

# <model.pt> may also be a directory holding the released SSRFNet pair, or sv_mixer.pt,classifier.pt
# (docs/official-models.md); the Python side checks each file.
[ -e "$model" ] || [[ "$model" == *,* ]] || { echo "$0: no such model $model" >&2; exit 1; }
[ -f "$data/wav.scp" ] || { echo "$0: no such file $data/wav.scp" >&2; exit 1; }
[ -z "$conf" ] || [ -f "$conf" ] || { echo "$0: no such conf file $conf" >&2; exit 1; }
[ -s "$data/wav.scp" ] || { echo "$0: $data/wav.scp is empty (no utterances to embed)" >&2; exit 1; }
num_utts=$(wc -l < "$data/wav.scp")
if [ "$nj" -gt "$num_utts" ]; then
  echo "$0: --nj $nj is more than the $num_utts utterances of $data; using $num_utts jobs"
  nj=$num_utts
fi

opts=()
[ -n "$conf" ] && opts+=(--conf "$conf")
[ -n "$num_crops" ] && opts+=(--eval-num-crops "$num_crops")
[ -n "$write_crops" ] && opts+=(--eval-write-crops "$write_crops")
[ -n "$batch_size" ] && opts+=(--eval-batch-size "$batch_size")
launcher=()
[ "$gpu" -gt 0 ] && launcher+=(--gpu "$gpu")

mkdir -p "$dir/log"

if [ "$check_audio" = true ]; then
  steps/validate_audio.sh --cmd "${check_cmd:-$cmd}" --nj "$nj" --skip-bad "$skip_bad" "$data" \
    "$dir/audio_check" || exit 1
  if [ -s "$dir/audio_check/bad_utts" ]; then data=$dir/audio_check/data; fi
fi

if [ "$stage" -le 0 ]; then
  # the jobs write into split.new/; the merge moves it to split/ with the merged scps as one set, so a failed
  # run leaves the earlier embeddings as they were
  rm -rf "$dir/split.new"
  # shellcheck disable=SC2086  # $cmd holds the launcher and its options
  $cmd "${launcher[@]}" JOB=1:"$nj" "$dir/log/extract.JOB.log" \
    python -m ssrfnet.bin.extract_embeddings "${opts[@]}" --model "$model" --data "$data" \
      --out-dir "$dir" --job JOB --num-jobs "$nj" --num-threads "$num_threads" --backend "$backend" \
      --quantize "$quantize" || exit 1
fi

if ! python -m ssrfnet.bin.extract_embeddings "${opts[@]}" --merge --data "$data" --out-dir "$dir" \
    --num-jobs "$nj" > "$dir/log/merge.log" 2>&1; then
  cat "$dir/log/merge.log" >&2
  exit 1
fi
cat "$dir/log/merge.log"
grep -h "^extract_embeddings: WARNING" "$dir"/log/extract.*.log >&2 || true
utils/peak_memory.sh "$0 (per job)" "$dir"/log/extract.*.log
echo "$0: embeddings of $data in $dir/xvector.scp"
