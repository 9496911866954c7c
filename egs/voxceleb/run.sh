#!/usr/bin/env bash
# SSRFNet speaker verification on VoxCeleb: SV-Mixer distilled from WavLM, fused stage by stage
# into ReDimNet (PFM), trained with OS-KDFT; scored on VoxCeleb1-O/E/H and, given their roots, VoxSRC-23,
# VCMix, VOiCES, CN-Celeb1 and SITW (docs/evaluation.md), beside the paper's published figures.
#
# With no corpus roots it synthesises the embedded mini corpus (VoxCeleb/MUSAN/RIRS_NOISES layout and
# stand-ins for every evaluation set) under corpora/ and runs every stage on it; with real roots it runs
# the real recipe.
#
# Stages: 0 data prep | 1 augmentation resources | 2 SV-Mixer distillation | 3 SSRFNet training
#         4 embedding extraction | 5 scoring | 6 export and report
#
# Usage: ./run.sh [options]
# e.g.:  ./run.sh                                   # everything on the mini corpus
#        ./run.sh --stage 3 --stop-stage 3          # resume training after a crash
#        ./run.sh --conf conf/ssrfnet.conf --vox1-root /data/VoxCeleb1 --vox2-root /data/VoxCeleb2 \
#                 --musan-root /data/musan --rirs-root /data/RIRS_NOISES --nj 32 \
#                 --vcmix-root /data/vcmix --voxsrc23-root /data/voxsrc23   # two more test sets
set -euo pipefail

stage=0
stop_stage=6
nj=2
conf=                 # default: conf/ssrfnet_mini.conf on the mini corpus, conf/ssrfnet.conf on real data
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
gpus_per_node=        # GPUs per node for torchrun (default: all visible, or 1 CPU process)
nnodes=1              # multi-node training: run stage 3 on every node with its --node-rank
node_rank=0
rdzv_endpoint=localhost:29400
rdzv_id=ssrfnet
rdzv_timeout=600      # seconds a node waits for the others at the rendezvous
# (end of options)

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; echo; echo "Options (name=default  # meaning):"
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
# The test sets: VoxCeleb1 (O/E/H) and every evaluation set whose root is given (local/prepare_<set>.sh).
declare -A eval_root=([voxsrc23]=$voxsrc23_root [vcmix]=$vcmix_root [voices]=$voices_root
                      [cnceleb]=$cnceleb_root [sitw]=$sitw_root)
test_sets=(vox1)
for set in voxsrc23 vcmix voices cnceleb sitw; do
  if [ -n "${eval_root[$set]}" ]; then test_sets+=("$set"); fi
done
train_opts=(--cmd "$cuda_cmd" --nnodes "$nnodes" --node-rank "$node_rank"
            --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "$rdzv_id" --rdzv-timeout "$rdzv_timeout" ${gpus_per_node:+--gpus "$gpus_per_node"})

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
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  echo "stage 1: augmentation resources (MUSAN noise/music/babble, simulated RIRs)"
  local/prepare_augmentation.sh --nj "$nj" "$musan_root" "$rirs_root" "$data"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "stage 2: SV-Mixer distillation from the WavLM teacher -> $exp/svmixer"
  steps/train.sh "${train_opts[@]}" --mode distill --conf "$conf" \
    --augment-dir "$data" "$data/vox2_train" "$data/vox2_heldout" "$exp/svmixer"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "stage 3: SSRFNet training with OS-KDFT -> $exp/ssrfnet"
  steps/train.sh "${train_opts[@]}" --mode ssrfnet --conf "$conf" --init "$exp/svmixer/final.pt" \
    --augment-dir "$data" "$data/vox2_train" "$data/vox2_heldout" "$exp/ssrfnet"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "stage 4: embedding extraction (10 x 3 s crops and per utterance): ${test_sets[*]}"
  # the training set only serves as the AS-norm cohort: no per-crop embeddings for it
  for set in "${test_sets[@]}" vox2_heldout vox2_train; do
    write_crops=true; [ "$set" = vox2_train ] && write_crops=false
    steps/extract_embeddings.sh --cmd "$cuda_cmd" --nj "$nj" --conf "$exp/ssrfnet/config.conf" \
      --write-crops "$write_crops" "$exp/ssrfnet/final.pt" "$data/$set" "$exp/ssrfnet/embeddings/$set"
  done
  # one table of every test set's embeddings, so that stage 5 scores all lists in one pass
  steps/combine_embeddings.sh "$exp/ssrfnet/embeddings/test" "${test_sets[@]/#/$exp/ssrfnet/embeddings/}"
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: scoring (cosine, AS-norm), EER/minDCF, DET plots, results beside the paper: ${test_sets[*]}"
  trials=()
  for set in "${test_sets[@]}"; do trials+=("$data/$set"/trials/*.kaldi); done
  steps/score.sh --asnorm "$asnorm" --top-n "$top_n" --cohort "$exp/ssrfnet/embeddings/vox2_train" \
    --cohort-data "$data/vox2_train" --dev-emb "$exp/ssrfnet/embeddings/vox2_heldout" \
    --dev-trials "$data/vox2_heldout/trials/heldout.kaldi" \
    "$exp/ssrfnet" "$exp/ssrfnet/embeddings/test" "${trials[@]}"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: TorchScript/ONNX export (and int8), parity checks, int8 cost on the dev and VoxCeleb1 lists, report"
  # with --export-quantize int8 (the default; the conf decides) the int8 cost is measured on these lists
  vox1_lists=$(printf '%s,' "$data"/vox1/trials/*.kaldi)
  steps/export.sh --data "$data/vox1" \
    --int8-eval "$data/vox2_heldout:$data/vox2_heldout/trials/heldout.kaldi $data/vox1:${vox1_lists%,}" \
    "$exp/ssrfnet"
fi
