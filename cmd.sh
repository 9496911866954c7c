# shellcheck shell=bash
# Job dispatch, Kaldi style. Every stage calls "$cmd JOB=1:N log/x.JOB.log command ...".
#   run.pl   : this machine (jobs run in parallel, one log each)
#   slurm.pl : SLURM (site options in conf/slurm.conf), e.g. train_cmd="slurm.pl --mem 8G"
#   queue.pl : SGE (site options in conf/queue.conf),   e.g. train_cmd="queue.pl --mem 8G"
# cuda_cmd runs the GPU stages (training with torchrun, extraction); on a CPU-only machine run.pl
# ignores --gpu and the stages fall back to the CPU.
export train_cmd="run.pl"
export cuda_cmd="run.pl --gpu 1"
