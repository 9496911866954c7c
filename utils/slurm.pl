#!/usr/bin/env perl
# slurm.pl: run a (possibly parallel) job on SLURM, Kaldi-style; a drop-in
# replacement for run.pl and queue.pl.
#
# Usage:
#   slurm.pl [options] [JOB=1:N] <log-file> <command> [<args>...]
# e.g.:
#   slurm.pl --mem 4G --gpu 1 JOB=1:8 exp/xv/log/extract.JOB.log \
#     python extract.py data/train/split8/JOB exp/xv/emb.JOB.ark
#
# Writes <log-dir>/q/<name>.sh and submits it as one array job with
#   sbatch [site args] [--mem=..] [--cpus-per-task=..] [--gres=gpu:N] \
#     --parsable --wait --array=FIRST-LAST[%MAX_JOBS_RUN] <script>
# then checks every job's log for "# Ended (code 0)"; failures are reported
# like run.pl (exit status 1, failed jobs and log paths named).
#
# Site options come from conf/slurm.conf (or --config FILE), format:
#   command sbatch --export=ALL -p cpu      # program and fixed arguments
#   option mem=* --mem=$0                   # --mem VALUE -> --mem=VALUE
#   option mem=0                            # --mem 0 -> nothing
#   option num_threads=* --cpus-per-task=$0
#   option gpu=* -p gpu --gres=gpu:$0       # --gpu N, N>0
#   option gpu=0                            # --gpu 0 -> nothing
#   default gpu=0                           # value when --gpu is not given
#   option time=* --time=$0                 # makes --time 4:00:00 available
# Without the file the built-in defaults are those lines without '-p ...'
# and without 'time'. The full description is in utils/queue.pl, which
# implements both launchers.
use strict;
use warnings;
use FindBin;

exec($^X, "$FindBin::RealBin/queue.pl", '--scheduler', 'slurm', @ARGV)
  or die "slurm.pl: cannot run $FindBin::RealBin/queue.pl: $!\n";
