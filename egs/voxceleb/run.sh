#!/usr/bin/env bash
# SSRFNet speaker verification on VoxCeleb: SV-Mixer distilled from WavLM, fused stage by stage
# into ReDimNet (PFM), trained with OS-KDFT; scored on VoxCeleb1-O/E/H and, given their roots, VoxSRC-23,
# VCMix, VOiCES, CN-Celeb1 and SITW (docs/evaluation.md), beside the paper's published figures.
#
# With no corpus roots it synthesises the embedded mini corpus (VoxCeleb/MUSAN/RIRS_NOISES layout and
# stand-ins for every evaluation set) under corpora/ and runs every stage on it; with real roots it runs
# the real recipe.
#
# Stages: 0 data prep | 1 augmentation resources | 2 student distillation | 3 speaker-model training
#         4 embedding extraction | 5 scoring, calibration, ablation table | 6 export and report
#         7 large-margin fine-tuning, then stages 4-6 for it (not run by default: --stop-stage 7)
# Every experiment lives in exp/<name>/ (--name, else the conf's --exp-name): baselines are conf swaps.
#
# Usage: ./run.sh [options]
# e.g.:  ./run.sh                                   # everything on the mini corpus
#        ./run.sh --stage 3 --stop-stage 3          # resume training after a crash
#        ./run.sh --stage 2 --conf conf/redimnet_b2_mini.conf   # a baseline beside it: exp/redimnet_b2
#        ./run.sh --stage 7 --stop-stage 7          # large-margin fine-tuning: exp/ssrfnet_lm
#        ./run.sh --conf conf/ssrfnet.conf --vox1-root /data/VoxCeleb1 --vox2-root /data/VoxCeleb2 \
#                 --musan-root /data/musan --rirs-root /data/RIRS_NOISES --nj 32 \
#                 --vcmix-root /data/vcmix --voxsrc23-root /data/voxsrc23   # two more test sets
set -euo pipefail

stage=0
stop_stage=6
nj=2
conf=                 # default: conf/ssrfnet_mini.conf on the mini corpus, conf/ssrfnet.conf on real data
name=                 # experiment name, exp/<name>/ (default: the conf's --exp-name, else ssrfnet)
lm_conf=              # stage 7 options over exp/<name>/config.conf (default conf/lm_mini.conf, real: conf/lm.conf)
vox1_root=            # VoxCeleb1 root (wav/ and the cleaned trial lists); unset: mini corpus
vox2_root=            # VoxCeleb2 root (dev/aac/...); unset: mini corpus
musan_root=           # MUSAN root (noise/ music/ speech/); unset: mini corpus
rirs_root=            # RIRS_NOISES root (simulated_rirs/); unset: mini corpus
voxsrc23_root=        # VoxSRC-23 test (VoxSRC2023_test/ + labelled list); unset: skipped on real data
vcmix_root=           # VCMix (voxconverse_test_SV/, optional vcmix_test.txt); unset: skipped on real data
voices_root=          # VOiCES 2019 challenge (sid_dev/, sid_eval/, lists and keys); unset: skipped
cnceleb_root=         # CN-Celeb1 (CN-Celeb_flac/ with data/ and eval/); unset: skipped on real data
sitw_root=            # SITW ({dev,eval}/{audio,lists,keys}); unset: skipped on real data
mini_size=default     # tiny|default|large: size of the synthesised corpus
mini_seed=20261122
corpora=corpora       # where the mini corpus is synthesised
data=data
exp=exp
m4a_mode=convert      # VoxCeleb2 m4a: convert once to wav (fast training reads) or pipe (Kaldi ffmpeg pipes)
num_heldout_spk=      # VoxCeleb2 dev speakers held out for development trials (mini: 4, tiny: 2, real: 40)
asnorm=true           # also report AS-norm scores (cohort: training speakers)
top_n=300             # AS-norm cohort size (clipped to the number of training speakers)
calibrate=true        # calibration trials from held-out speakers (data/vox2_cal): affine and QMF in stage 5
sanity=true           # also score the no-training MFCC sanity baseline (exp/mfcc_stats) in stages 4-5
gpus_per_node=        # GPUs per node for torchrun (default: all visible, or 1 CPU process)
nnodes=1              # multi-node training: run stage 3 on every node with its --node-rank
node_rank=0
rdzv_endpoint=localhost:29400
rdzv_id=ssrfnet
rdzv_timeout=600      # seconds a node waits for the others at the rendezvous
# (end of options)

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; echo; echo "Options (name=default  # meaning):"
               sed -n '/^stage=0/,/^# (end of options)/p' "$0" | grep -v '^#' | sed 's/^/  --/')

. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

if ! [[ "$stage" =~ ^[0-9]+$ && "$stop_stage" =~ ^[0-9]+$ ]]; then
  echo "$0: --stage and --stop-stage must be stage numbers, got '$stage' and '$stop_stage'" >&2
  exit 1
fi
if [ "$stop_stage" -lt "$stage" ]; then
  echo "$0: --stop-stage $stop_stage is before --stage $stage: no stage would run" >&2
  exit 1
fi

utils/setup_env.sh --quiet

mini=false
if [ -z "$vox1_root$vox2_root$musan_root$rirs_root" ]; then
  if [ -n "$voxsrc23_root$vcmix_root$voices_root$cnceleb_root$sitw_root" ]; then
    echo "$0: evaluation-set roots go with the real corpora; the mini corpus brings its own stand-ins" >&2
    exit 1
  fi
  mini=true
  vox1_root=$corpora/voxceleb1 vox2_root=$corpora/voxceleb2
  musan_root=$corpora/musan rirs_root=$corpora/RIRS_NOISES
  voxsrc23_root=$corpora/voxsrc23 vcmix_root=$corpora/vcmix voices_root=$corpora/VOiCES
  cnceleb_root=$corpora/CN-Celeb_flac sitw_root=$corpora/sitw
elif [ -z "$vox1_root" ] || [ -z "$vox2_root" ] || [ -z "$musan_root" ] || [ -z "$rirs_root" ]; then
  echo "$0: give all of --vox1-root --vox2-root --musan-root --rirs-root, or none for the mini corpus" >&2
  exit 1
fi
if [ -z "$conf" ]; then
  if $mini; then conf=conf/ssrfnet_mini.conf; else conf=conf/ssrfnet.conf; fi
fi
if [ -z "$num_heldout_spk" ]; then
  if ! $mini; then num_heldout_spk=40
  elif [ "$mini_size" = tiny ]; then num_heldout_spk=2
  else num_heldout_spk=4; fi
fi
[ -f "$conf" ] || { echo "$0: conf file $conf not found" >&2; exit 1; }
if [ -z "$lm_conf" ]; then
  if $mini; then lm_conf=conf/lm_mini.conf; else lm_conf=conf/lm.conf; fi
fi
# What the stages need from the conf (checked on the way: unknown keys, model keys of another model type).
conf_info=$(python -m ssrfnet.bin.conf_value --conf "$conf" exp-name model-type has-student eval-sets) || exit 1
read -r conf_name model_type has_student eval_sets <<< "$conf_info"
[ -n "$name" ] || name=$conf_name
# The test sets: VoxCeleb1 (O/E/H) and every evaluation set whose root is given (local/prepare_<set>.sh),
# or those of them the conf's --eval-sets names.
declare -A eval_root=([voxsrc23]=$voxsrc23_root [vcmix]=$vcmix_root [voices]=$voices_root
                      [cnceleb]=$cnceleb_root [sitw]=$sitw_root)
test_sets=(vox1)
for set in voxsrc23 vcmix voices cnceleb sitw; do
  if [ -n "${eval_root[$set]}" ] && { [ "$eval_sets" = all ] || [[ ",$eval_sets," == *",$set,"* ]]; }; then
    test_sets+=("$set")
  fi
done
train_opts=(--cmd "$cuda_cmd" --nnodes "$nnodes" --node-rank "$node_rank"
            --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "$rdzv_id" --rdzv-timeout "$rdzv_timeout"
            ${gpus_per_node:+--gpus "$gpus_per_node"})
cal_sets=()
if $calibrate; then cal_sets=(vox2_cal); fi
sanity_exp=$exp/mfcc_stats

# Stage 4 of one experiment: 10 x 3 s crops and one embedding per utterance of the test sets, the development
# and calibration segments, and the training set (the AS-norm cohort only: no crops); one table of every test
# set, so that stage 5 scores all lists in one pass.
extract_experiment() {
  local dir=$1 set write_crops
  for set in "${test_sets[@]}" vox2_heldout "${cal_sets[@]}" vox2_train; do
    write_crops=true; [ "$set" = vox2_train ] && write_crops=false
    steps/extract_embeddings.sh --cmd "$cuda_cmd" --nj "$nj" --conf "$dir/config.conf" \
      --write-crops "$write_crops" "$dir/final.pt" "$data/$set" "$dir/embeddings/$set"
  done
  steps/combine_embeddings.sh "$dir/embeddings/test" "${test_sets[@]/#/$dir/embeddings/}"
}

# Stage 5 of one experiment: every trial list of every test set; AS-norm ($2: true|false) against the training
# speakers; affine and QMF calibration fitted on the calibration trials; the sanity baseline beside it.
score_experiment() {
  local dir=$1 use_asnorm=$2 set trials=() opts=()
  for set in "${test_sets[@]}"; do trials+=("$data/$set"/trials/*.kaldi); done
  if [ "$use_asnorm" = true ]; then
    opts+=(--top-n "$top_n" --cohort "$dir/embeddings/vox2_train" --cohort-data "$data/vox2_train")
  fi
  if $calibrate; then
    opts+=(--cal-emb "$dir/embeddings/vox2_cal" --cal-data "$data/vox2_cal" --eval-data "${test_sets[*]/#/$data/}")
  fi
  if [ "$dir" != "$sanity_exp" ] && [ -f "$sanity_exp/results.json" ]; then
    opts+=(--sanity-results "$sanity_exp/results.json")
  fi
  steps/score.sh --asnorm "$use_asnorm" "${opts[@]}" --dev-emb "$dir/embeddings/vox2_heldout" \
    --dev-trials "$data/vox2_heldout/trials/heldout.kaldi" "$dir" "$dir/embeddings/test" "${trials[@]}"
}

# Stage 6 of one experiment: TorchScript/ONNX export with parity checks; with --export-quantize int8 (the
# default; the conf decides) also model.int8.onnx, its cost measured on the development and VoxCeleb1 lists.
export_experiment() {
  local dir=$1 vox1_lists
  vox1_lists=$(printf '%s,' "$data"/vox1/trials/*.kaldi)
  steps/export.sh --data "$data/vox1" \
    --int8-eval "$data/vox2_heldout:$data/vox2_heldout/trials/heldout.kaldi $data/vox1:${vox1_lists%,}" "$dir"
}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "stage 0: data preparation ($( $mini && echo "mini corpus, size $mini_size" || echo "real corpora" ))"
  if $mini; then
    local/make_mini_corpus.sh --nj "$nj" --size "$mini_size" --seed "$mini_seed" "$corpora"
  fi
  local/prepare_voxceleb.sh --cmd "$train_cmd" --nj "$nj" --m4a-mode "$m4a_mode" \
    --num-heldout-spk "$num_heldout_spk" "$vox1_root" "$vox2_root" "$data"
  for set in "${test_sets[@]:1}"; do
    set_opts=()
    if [ "$set" = vcmix ]; then set_opts=(--vox1-root "$vox1_root"); fi  # its targets are VoxCeleb1-O
    "local/prepare_$set.sh" --nj "$nj" "${set_opts[@]}" "${eval_root[$set]}" "$data"
  done
  # calibration trials (short vs long segments of the held-out speakers; never a test list)
  if $calibrate; then local/make_calibration_set.sh --nj "$nj" "$data/vox2_heldout" "$data/vox2_cal"; fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  echo "stage 1: augmentation resources (MUSAN noise/music/babble, simulated RIRs)"
  local/prepare_augmentation.sh --nj "$nj" "$musan_root" "$rirs_root" "$data"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if $has_student; then
    echo "stage 2: student distillation from the WavLM teacher -> $exp/${name}_student"
    steps/train.sh "${train_opts[@]}" --mode distill --conf "$conf" \
      --augment-dir "$data" "$data/vox2_train" "$data/vox2_heldout" "$exp/${name}_student"
  else
    echo "stage 2: skipped: --model-type=$model_type has no student to distil (stage 3 trains it with AAM alone)"
  fi
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  init_opts=()
  if $has_student; then init_opts=(--init "$exp/${name}_student/final.pt"); fi
  echo "stage 3: $model_type training ($($has_student && echo "OS-KDFT" || echo "AAM-softmax alone")) -> $exp/$name"
  steps/train.sh "${train_opts[@]}" --mode ssrfnet --conf "$conf" "${init_opts[@]}" \
    --train-opts "--exp-name=$name" --augment-dir "$data" "$data/vox2_train" "$data/vox2_heldout" "$exp/$name"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "stage 4: embedding extraction (10 x 3 s crops and per utterance) -> $exp/$name: ${test_sets[*]}"
  extract_experiment "$exp/$name"
  if $sanity; then  # once for every experiment: kept while its data and model file are unchanged
    local/extract_sanity_baseline.sh --cmd "$train_cmd" --nj "$nj" \
      --other-sets "vox2_heldout ${cal_sets[*]}" "$data" "$sanity_exp" "${test_sets[@]}"
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: scoring (cosine, AS-norm, calibration), EER/minDCF/Cllr, DET plots, the ablation table: ${test_sets[*]}"
  if $sanity; then score_experiment "$sanity_exp" false; fi
  score_experiment "$exp/$name" "$asnorm"
  local/ablation.sh "$exp"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: TorchScript/ONNX export (and int8), parity checks, int8 cost on the dev and VoxCeleb1 lists, report"
  export_experiment "$exp/$name"
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  echo "stage 7: large-margin fine-tuning of $exp/$name ($lm_conf) -> $exp/${name}_lm, then its stages 4-6"
  [ -f "$exp/$name/final.pt" ] || { echo "$0: stage 7 fine-tunes $exp/$name/final.pt: run stages 0-6 first" >&2; exit 1; }
  steps/train.sh "${train_opts[@]}" --mode lmft --conf "$exp/$name/config.conf" --conf "$lm_conf" \
    --init "$exp/$name/final.pt" --train-opts "--exp-name=${name}_lm" \
    --augment-dir "$data" "$data/vox2_train" "$data/vox2_heldout" "$exp/${name}_lm"
  extract_experiment "$exp/${name}_lm"
  score_experiment "$exp/${name}_lm" "$asnorm"
  export_experiment "$exp/${name}_lm"
  local/ablation.sh "$exp"
fi
