#!/usr/bin/env bash
# Stages 2-3 and 7: train the student by distillation (--mode distill), the speaker model (--mode ssrfnet:
# OS-KDFT, or AAM alone for a model without a student), or fine-tune it with a large margin (--mode lmft,
# from the stage-3 final.pt given as --init) with torchrun (DDP: NCCL on GPUs, one gloo process on a
# CPU-only machine).
#
# Writes <exp-dir>/config.conf (effective options), spk2id, train.log, tensorboard/, checkpoints/step_N.pt
# (+ checkpoints/latest) and final.pt (average of the last --num-avg checkpoints) + final.json; the job log
# is <exp-dir>/log/train.log (train.node<R>.log on node R of a multi-node run, all nodes sharing <exp-dir>).
# Re-running the same command after a crash resumes from checkpoints/latest.
#
# Multi-node on SLURM (2 nodes x 4 GPUs): run this script once per node, e.g. from an sbatch script
#   #SBATCH --nodes=2 --ntasks-per-node=1 --gres=gpu:4
#   head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
#   srun bash -c "steps/train.sh --gpus 4 --nnodes 2 --node-rank \$SLURM_NODEID \
#       --rdzv-endpoint $head:29400 --rdzv-id $SLURM_JOB_ID --mode ssrfnet --conf conf/ssrfnet.conf \
#       --init exp/ssrfnet_student/final.pt data/vox2_train data/vox2_heldout exp/ssrfnet"
# or submit each node's job through the launcher with cmd="slurm.pl --gpu 4" (conf/slurm.conf) and
# --node-rank 0 / 1 and the same --rdzv-endpoint (a host:port reachable from every node) and --rdzv-id.

# Begin configuration section.
cmd=run.pl          # job launcher, e.g. "$cuda_cmd" (run.pl --gpu 1) or "slurm.pl --gpu 4"
gpus=               # processes (GPUs) per node; default: all visible GPUs, or 1 CPU process without GPU
nnodes=1            # nodes taking part (multi-node: run this script on each one)
node_rank=0         # this node's rank, 0..nnodes-1
rdzv_endpoint=localhost:29400   # host:port of the rendezvous (node 0 is fine)
rdzv_id=ssrfnet     # a job id shared by the nodes of one run
rdzv_timeout=600    # seconds a node waits for the others to join the rendezvous before it gives up
mode=               # distill (stage 2) | ssrfnet (stage 3) | lmft (stage 7)
init=               # stage 3: stage-2 student, e.g. exp/ssrfnet_student/final.pt; stage 7: exp/<name>/final.pt
augment_dir=        # dir holding musan_noise, musan_music, musan_speech and rirs (e.g. data)
musan_dir=          # dir holding musan_{noise,music,speech} (default: --augment-dir)
rirs_dir=           # RIR data dir (default: <augment-dir>/rirs)
dev_trials=         # development trials (default: <dev-data>/trials/heldout.kaldi)
num_workers=        # DataLoader workers per process (default: conf)
num_threads=auto    # torch CPU threads per process: auto = the cores other processes leave free, at most
                    # $OMP_NUM_THREADS (default 2); a number pins it (bit-identical resume needs the same)
train_opts=         # extra options for ssrfnet.bin.train, e.g. "--max-steps=1000 --force-new"
check_audio=true    # check every training wav.scp entry before torchrun starts (steps/validate_audio.sh)
check_cmd=          # launcher of the audio check jobs (default: --cmd)
check_nj=4          # audio check jobs
skip_bad=false      # true: train without the unusable entries (listed in <exp-dir>/audio_check/bad_utts)
# End configuration section.
# --conf FILE (repeatable; later files win, the command line wins over them) is collected separately.

echo "$0 $*"

# shellcheck source=/dev/null
if [ -f path.sh ]; then . ./path.sh; fi
confs=()
args=()
# --conf may be repeated: collect every occurrence before parse_options.sh sees them
while [ $# -gt 0 ]; do
  case "$1" in
    --conf) confs+=("$2"); shift 2 ;;
    --conf=*) confs+=("${1#--conf=}"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] --mode distill|ssrfnet|lmft --conf <conf> <train-data> <dev-data> <exp-dir>
e.g.: $0 --cmd \"\$cuda_cmd\" --mode distill --conf conf/ssrfnet.conf --augment-dir data \\
        data/vox2_train data/vox2_heldout exp/ssrfnet_student
      $0 --cmd \"\$cuda_cmd\" --gpus 4 --mode ssrfnet --conf conf/ssrfnet.conf \\
        --init exp/ssrfnet_student/final.pt --augment-dir data data/vox2_train data/vox2_heldout exp/ssrfnet
      $0 --cmd \"\$cuda_cmd\" --mode lmft --conf exp/ssrfnet/config.conf --conf conf/lm.conf \\
        --init exp/ssrfnet/final.pt --augment-dir data data/vox2_train data/vox2_heldout exp/ssrfnet_lm
Options: --cmd --gpus --num-threads --nnodes --node-rank --rdzv-endpoint --rdzv-id --rdzv-timeout --mode --conf --init
         --augment-dir --musan-dir --rirs-dir --dev-trials --num-workers --train-opts
         --check-audio --check-cmd --check-nj --skip-bad"
# shellcheck source=/dev/null
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 3 ] || [ -z "$mode" ]; then
  printf '%s\n' "$help_message" >&2
  exit 1
fi
train_data=$1
dev_data=$2
exp_dir=$3

case "$mode" in
  distill|ssrfnet|lmft) ;;
  *) echo "$0: --mode must be distill, ssrfnet or lmft, got '$mode'" >&2; exit 1 ;;
esac
if [ "$mode" = lmft ] && [ -z "$init" ]; then
  echo "$0: --mode lmft needs --init <the stage-3 model, exp/<name>/final.pt>" >&2; exit 1
fi
if ! [[ "$nnodes" =~ ^[1-9][0-9]*$ ]] || ! [[ "$node_rank" =~ ^[0-9]+$ ]] || [ "$node_rank" -ge "$nnodes" ]; then
  echo "$0: --node-rank $node_rank is out of range for --nnodes $nnodes (ranks run 0..nnodes-1)" >&2
  exit 1
fi
for f in "$train_data/wav.scp" "$train_data/utt2spk"; do
  [ -f "$f" ] || { echo "$0: no such file $f" >&2; exit 1; }
done
for c in "${confs[@]}"; do
  [ -f "$c" ] || { echo "$0: conf file $c not found" >&2; exit 1; }
done
[ -z "$musan_dir" ] && musan_dir=${augment_dir:-data}
[ -z "$rirs_dir" ] && rirs_dir=${augment_dir:-data}/rirs
[ -z "$dev_trials" ] && dev_trials=$dev_data/trials/heldout.kaldi
if [ -n "$init" ] && [ ! -f "$init" ]; then echo "$0: --init $init not found" >&2; exit 1; fi

# GPUs per node: as given, else all visible ones; none -> one CPU process.
if [ -z "$gpus" ]; then
  if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    gpus=$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .)
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    gpus=$(nvidia-smi -L | grep -c '^GPU')
  else
    gpus=0
  fi
fi
if [ "$gpus" -gt 0 ]; then
  nproc_per_node=$gpus gpu_opt=(--gpu "$gpus") device=auto
else
  nproc_per_node=1 gpu_opt=() device=cpu
fi

# The training audio is checked before torchrun starts: an unreadable or 8 kHz file is named in seconds, not
# when the sampler reaches it hours in. Node 0 checks; the other nodes wait for it at the rendezvous.
if [ "$check_audio" = true ] && [ "$node_rank" -eq 0 ]; then
  steps/validate_audio.sh --cmd "${check_cmd:-$cmd}" --nj "$check_nj" --skip-bad "$skip_bad" \
    "$train_data" "$exp_dir/audio_check" || exit 1
  if [ -s "$exp_dir/audio_check/bad_utts" ]; then train_data=$exp_dir/audio_check/data; fi
fi

py_args=(--num-threads "$num_threads" --mode "$mode" --train-data "$train_data" --dev-data "$dev_data"
         --musan-dir "$musan_dir" --rirs-dir "$rirs_dir" --exp-dir "$exp_dir" --device "$device")
for c in "${confs[@]}"; do py_args+=(--conf "$c"); done
[ -f "$dev_trials" ] && py_args+=(--dev-trials "$dev_trials")
[ -n "$init" ] && py_args+=(--init "$init")
[ -n "$num_workers" ] && py_args+=(--num-workers "$num_workers")
# shellcheck disable=SC2206  # word splitting of --train-opts is intended
[ -n "$train_opts" ] && py_args+=($train_opts)

if [ "$nnodes" -gt 1 ]; then
  launch=(torchrun --nnodes "$nnodes" --node-rank "$node_rank" --nproc-per-node "$nproc_per_node"
          --rdzv-backend c10d --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "$rdzv_id"
          --rdzv-conf "join_timeout=$rdzv_timeout")
else
  launch=(torchrun --standalone --nnodes 1 --nproc-per-node "$nproc_per_node")
fi

mkdir -p "$exp_dir/log"
job_log=$exp_dir/log/train.log
[ "$nnodes" -gt 1 ] && job_log=$exp_dir/log/train.node$node_rank.log
echo "$0: training --mode $mode on $nnodes node(s) x $nproc_per_node process(es) -> $exp_dir"
echo "$0: log in $job_log (progress in $exp_dir/train.log, TensorBoard in $exp_dir/tensorboard)"
# shellcheck disable=SC2086  # $cmd holds the launcher and its options
if ! $cmd "${gpu_opt[@]}" "$job_log" \
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" "${launch[@]}" -m ssrfnet.bin.train "${py_args[@]}"; then
  if grep -q RendezvousTimeoutError "$job_log"; then
    echo "$0: error: no rendezvous of $nnodes node(s) at $rdzv_endpoint (--rdzv-id $rdzv_id) within" \
      "$rdzv_timeout s: start stage 3 on every node with the same --rdzv-endpoint, reachable from all of" \
      "them, and the same --rdzv-id (see $job_log)" >&2
  fi
  exit 1
fi
[ "$node_rank" -ne 0 ] || [ -f "$exp_dir/final.pt" ] || { echo "$0: $exp_dir/final.pt was not written" >&2; exit 1; }
utils/peak_memory.sh "$0 (per process)" "$job_log"
echo "$0: done, model in $exp_dir/final.pt"
