#!/usr/bin/env bash
# SSRFNet speaker verification on VoxCeleb: SV-Mixer distilled from WavLM, fused stage by stage
# into ReDimNet (PFM), trained with OS-KDFT; scored on VoxCeleb1-O/E/H.
#
# With no corpus roots it synthesises the embedded mini corpus (VoxCeleb/MUSAN/RIRS_NOISES layout)
# under corpora/ and runs every stage on it; with real roots it runs the real recipe.
#
# Stages: 0 data prep | 1 augmentation resources | 2 SV-Mixer distillation | 3 SSRFNet training
#         4 embedding extraction | 5 scoring | 6 export and report
#
# Usage: ./run.sh [options]
# e.g.:  ./run.sh                                   # everything on the mini corpus
#        ./run.sh --stage 3 --stop-stage 3          # resume training after a crash
#        ./run.sh --conf conf/ssrfnet.conf --vox1-root /data/VoxCeleb1 --vox2-root /data/VoxCeleb2 \
#                 --musan-root /data/musan --rirs-root /data/RIRS_NOISES --nj 32
set -euo pipefail

stage=0
stop_stage=6
nj=2
conf=                 # default: conf/ssrfnet_mini.conf on the mini corpus, conf/ssrfnet.conf on real data
vox1_root=            # VoxCeleb1 root (wav/ and the cleaned trial lists); unset: mini corpus
vox2_root=            # VoxCeleb2 root (dev/aac/...); unset: mini corpus
musan_root=           # MUSAN root (noise/ music/ speech/); unset: mini corpus
rirs_root=            # RIRS_NOISES root (simulated_rirs/); unset: mini corpus
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

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message=$(sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; echo; echo "Options (name=default  # meaning):"
               sed -n '/^stage=0/,/^rdzv_id=/p' "$0" | sed 's/^/  --/')

. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

utils/setup_env.sh --quiet

mini=false
if [ -z "$vox1_root$vox2_root$musan_root$rirs_root" ]; then
  mini=true
  vox1_root=$corpora/voxceleb1 vox2_root=$corpora/voxceleb2
  musan_root=$corpora/musan rirs_root=$corpora/RIRS_NOISES
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
train_opts=(--cmd "$cuda_cmd" --nnodes "$nnodes" --node-rank "$node_rank"
            --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "$rdzv_id" ${gpus_per_node:+--gpus "$gpus_per_node"})

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "stage 0: data preparation ($( $mini && echo "mini corpus, size $mini_size" || echo "real corpora" ))"
  if $mini; then
    local/make_mini_corpus.sh --nj "$nj" --size "$mini_size" --seed "$mini_seed" "$corpora"
  fi
  local/prepare_voxceleb.sh --cmd "$train_cmd" --nj "$nj" --m4a-mode "$m4a_mode" \
    --num-heldout-spk "$num_heldout_spk" "$vox1_root" "$vox2_root" "$data"
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
  echo "stage 4: embedding extraction (10 x 3 s crops and per utterance)"
  # the training set only serves as the AS-norm cohort: no per-crop embeddings for it
  for set in vox1 vox2_heldout vox2_train; do
    write_crops=true; [ "$set" = vox2_train ] && write_crops=false
    steps/extract_embeddings.sh --cmd "$cuda_cmd" --nj "$nj" --conf "$exp/ssrfnet/config.conf" \
      --write-crops "$write_crops" "$exp/ssrfnet/final.pt" "$data/$set" "$exp/ssrfnet/embeddings/$set"
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: scoring (cosine, AS-norm), EER/minDCF, DET plots, results table"
  steps/score.sh --asnorm "$asnorm" --top-n "$top_n" --cohort "$exp/ssrfnet/embeddings/vox2_train" \
    --cohort-data "$data/vox2_train" --dev-emb "$exp/ssrfnet/embeddings/vox2_heldout" \
    --dev-trials "$data/vox2_heldout/trials/heldout.kaldi" \
    "$exp/ssrfnet" "$exp/ssrfnet/embeddings/vox1" "$data"/vox1/trials/*.kaldi
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: TorchScript/ONNX export, parity check and report"
  steps/export.sh --data "$data/vox1" "$exp/ssrfnet"
fi
