#!/usr/bin/env perl
# run.pl: run a (possibly parallel) job on the local machine, Kaldi-style.
#
# Usage:
#   run.pl [options] [JOB=1:N] <log-file> <command> [<args>...]
# e.g.:
#   run.pl --max-jobs-run 4 JOB=1:8 exp/xv/log/extract.JOB.log \
#     python extract.py data/train/split8/JOB exp/xv/emb.JOB.ark
#
# The variable named before '=' (usually JOB) is replaced by the job index in
# the log name and in the command. A parallel range (more than one job) needs
# the variable in the log name, otherwise run.pl refuses to run.
#
# The command is run by bash. Arguments without whitespace are passed through
# unchanged, so a quoted '|' or '&&' acts as a shell operator
# (run.pl log a \| b); arguments containing whitespace are single-quoted. If
# the whole command is one argument, it is given to bash as is
# (run.pl log "a | b && c").
#
# Options (all take a value):
#   --max-jobs-run N   at most N jobs at once (default: number of CPUs, or
#                      with --gpu and visible GPUs: #GPUs / gpus-per-job)
#   --num-threads N    threads per job; only recorded in the log
#   --gpu N            GPUs per job; if GPUs exist (CUDA_VISIBLE_DEVICES or
#                      nvidia-smi -L), each job gets CUDA_VISIBLE_DEVICES set
#                      to N of them (free ones first, else round-robin);
#                      without GPUs it is ignored.
#   --mem X            accepted and ignored (for compatibility with queue.pl)
#   --pick all|failed|incomplete
#                      rerun only jobs whose log lacks an "# Ended" line
#                      (incomplete) or whose code is not 0 (failed, which
#                      includes incomplete). Default: all.
#   Any other --name value pair is accepted and ignored with a warning, so
#   that commands written for queue.pl/slurm.pl run unchanged.
#
# Each log holds "# <command>", "# Started at <date>", the output,
# "# Accounting: time=<seconds> threads=<n>" and "# Ended (code N) at <date>".
# Every log must be writable before any job starts (a read-only experiment
# dir is an error naming the log, never a stale "# Ended (code 0)").
# Exit status: 0 if all jobs succeeded, else 1 after naming each failed job
# (up to 10): "run.pl: job N failed (code C), log <path>" and, below it, the
# last "error:" line of that log (else its last line), so that the console
# shows the named message without opening the log.
#
# No orphans: each job runs under a watcher process (the leader of the job's
# process group). If run.pl dies, even by SIGKILL, the watcher notices within
# a fraction of a second and kills the job: its process group and every
# process that inherited the job's RUNPL_JOB_TAG environment variable (so
# also workers that started a session of their own, as torchrun's do): TERM,
# then KILL after $RUNPL_KILL_GRACE seconds (default 5). A killed job's log
# gets no "# Ended" line.

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time);

my $me = 'run.pl';

sub fail { print STDERR @_; exit 1; }

sub usage {
  print STDERR "Usage: $me [options] [JOB=1:N] <log-file> <command> [<args>...]\n",
    "e.g.: $me JOB=1:4 exp/log/x.JOB.log echo JOB\n",
    "Options: --max-jobs-run N, --num-threads N, --gpu N, --mem X, --pick all|failed|incomplete\n";
  exit 1;
}

my %opt = (max_jobs_run => 0, num_threads => 1, gpu => 0, pick => 'all');
while (@ARGV && $ARGV[0] =~ /^--?[A-Za-z]/) {
  my $flag = shift @ARGV;
  usage() unless @ARGV;
  my $val = shift @ARGV;
  (my $name = $flag) =~ s/^--?//;
  $name =~ s/-/_/g;
  if ($name =~ /^(max_jobs_run|num_threads|gpu)$/) {
    fail("$me: option $flag needs a non-negative integer, got '$val'\n") unless $val =~ /^\d+$/;
    $opt{$name} = $val;
  } elsif ($name eq 'pick') {
    fail("$me: --pick must be all, failed or incomplete, got '$val'\n")
      unless $val =~ /^(all|failed|incomplete)$/;
    $opt{pick} = $val;
  } elsif ($name eq 'mem' || $name eq 'config') {
    # accepted for compatibility with queue.pl/slurm.pl
  } else {
    print STDERR "$me: warning: ignoring option $flag $val\n";
  }
}
$opt{num_threads} = 1 if $opt{num_threads} < 1;

my ($var, $first, $last) = ('', 1, 1);
if (@ARGV && $ARGV[0] =~ /^([A-Za-z_]\w*)=(\d+)(?::(\d+))?$/) {
  ($var, $first, $last) = ($1, $2, defined $3 ? $3 : $2);
  shift @ARGV;
  fail("$me: empty job range $var=$first:$last\n") if $last < $first;
} elsif (@ARGV && $ARGV[0] =~ /^[A-Za-z_]\w*=/) {
  fail("$me: bad job range '$ARGV[0]' (expected e.g. JOB=1:4)\n");
}
usage() if @ARGV < 2;
my $logtpl = shift @ARGV;

if ($var ne '' && $last > $first && index($logtpl, $var) < 0) {
  fail("$me: a parallel job ($var=$first:$last) needs '$var' in the log name, got '$logtpl'\n");
}

sub shell_quote {
  my ($s) = @_;
  return $s if $s =~ /^\S+$/;
  $s =~ s/'/'\\''/g;
  return "'$s'";
}
my $cmdtpl = @ARGV == 1 ? $ARGV[0] : join(' ', map { shell_quote($_) } @ARGV);

sub subst {
  my ($s, $n) = @_;
  $s =~ s/\Q$var\E/$n/g if $var ne '';
  return $s;
}

sub log_status {    # undef: no log or no Ended line; else the exit code
  my ($log) = @_;
  open(my $fh, '<', $log) or return undef;
  my $code;
  while (<$fh>) { $code = $1 if /^# Ended \(code (-?\d+)\)/; }
  close $fh;
  return $code;
}

my @jobs;
for my $n ($first .. $last) {
  my $log = subst($logtpl, $n);
  if ($opt{pick} ne 'all') {
    my $code = log_status($log);
    next if defined $code && ($opt{pick} eq 'incomplete' || $code == 0);
  }
  push @jobs, $n;
}

# Every log must be writable before anything runs: a job whose log cannot be written would leave an
# earlier run's log (perhaps "# Ended (code 0)") in place.
for my $n (@jobs) {
  my $log = subst($logtpl, $n);
  my $dir = dirname($log);
  eval { make_path($dir) unless -d $dir; 1 } or fail("$me: cannot create the log directory $dir: $@");
  open(my $probe, '>>', $log) or fail("$me: cannot write the log $log: $!\n");
  close $probe;
}

# GPUs available to hand out.
my @gpus;
if ($opt{gpu} > 0) {
  if (defined $ENV{CUDA_VISIBLE_DEVICES} && $ENV{CUDA_VISIBLE_DEVICES} =~ /\S/) {
    @gpus = grep { /\S/ } split(/,/, $ENV{CUDA_VISIBLE_DEVICES});
  } elsif (open(my $smi, '-|', 'nvidia-smi -L 2>/dev/null')) {
    my $count = grep { /^GPU \d+/ } <$smi>;
    close $smi;
    @gpus = (0 .. $count - 1);
  }
}

my $max = $opt{max_jobs_run};
if ($max == 0) {
  if (@gpus) {
    $max = int(@gpus / $opt{gpu}) || 1;
  } else {
    my $ncpu = 0;
    if (open(my $ci, '<', '/proc/cpuinfo')) { $ncpu = grep { /^processor\s*:/ } <$ci>; close $ci; }
    if (!$ncpu) { my $n = `nproc 2>/dev/null`; $ncpu = ($n && $n =~ /(\d+)/) ? $1 : 1; }
    $max = $ncpu;
  }
}

my %free_gpu = map { $_ => 1 } @gpus;
my $rr = 0;
sub take_gpus {
  my @free = grep { $free_gpu{$_} } @gpus;
  my @got;
  if (@free >= $opt{gpu}) {
    @got = @free[0 .. $opt{gpu} - 1];
  } else {    # oversubscribed: share round-robin
    @got = map { $gpus[($rr + $_) % @gpus] } 0 .. $opt{gpu} - 1;
    $rr += $opt{gpu};
  }
  $free_gpu{$_} = 0 for @got;
  return @got;
}

sub stamp { return scalar localtime; }

sub tagged_pids {    # processes (of any session) that inherited the job's tag
  my ($tag) = @_;
  my @pids;
  opendir(my $proc, '/proc') or return ();
  for my $pid (grep { /^\d+$/ && $_ != $$ } readdir $proc) {
    open(my $env, '<', "/proc/$pid/environ") or next;
    local $/;
    my $text = <$env> // '';
    close $env;
    push @pids, $pid if index("\0$text", "\0RUNPL_JOB_TAG=$tag\0") >= 0;
  }
  closedir $proc;
  return @pids;
}

sub kill_job {    # in the watcher, after run.pl died: TERM, a grace period, KILL; never returns
  my ($pid, $tag) = @_;
  $SIG{TERM} = 'IGNORE';
  kill 'TERM', -$$, tagged_pids($tag);
  my $grace = ($ENV{RUNPL_KILL_GRACE} // '') =~ /^\d+(\.\d+)?$/ ? $ENV{RUNPL_KILL_GRACE} : 5;
  my $deadline = time() + $grace;
  while (time() < $deadline) {
    waitpid($pid, WNOHANG);
    last if !kill(0, $pid) && !tagged_pids($tag);
    Time::HiRes::sleep(0.05);
  }
  kill 'KILL', tagged_pids($tag);
  kill 'KILL', -$$;    # the job's process group, this watcher included
  POSIX::_exit(137);
}

sub watch {    # wait for the job; kill it if run.pl goes away. Returns the wait status.
  my ($pid, $launcher, $tag) = @_;
  my $nap = 0.005;
  while (1) {
    my $got = waitpid($pid, WNOHANG);
    return $? if $got == $pid;
    return 255 << 8 if $got < 0;
    kill_job($pid, $tag) if getppid() != $launcher;
    Time::HiRes::sleep($nap);
    $nap = $nap < 0.2 ? 2 * $nap : 0.2;
  }
}

sub run_one {    # in the child (the job's watcher): never returns
  my ($n, $gpu_list, $launcher) = @_;
  my $log = subst($logtpl, $n);
  my $cmd = subst($cmdtpl, $n);
  open(my $fh, '>', $log) or do { print STDERR "$me: cannot write $log: $!\n"; POSIX::_exit(1); };
  print $fh "# $cmd\n# Started at " . stamp() . "\n";
  close $fh;
  $ENV{CUDA_VISIBLE_DEVICES} = join(',', @$gpu_list) if @$gpu_list;
  my $tag = "$launcher.$$.$n." . int(time() * 1000);
  my $t0 = time();
  my $pid = fork();
  if (!defined $pid) { print STDERR "$me: fork failed\n"; POSIX::_exit(1); }
  if ($pid == 0) {
    $ENV{RUNPL_JOB_TAG} = $tag;
    open(STDOUT, '>>', $log) or POSIX::_exit(127);
    open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
    open(STDIN, '<', '/dev/null');
    exec('bash', '-c', $cmd) or POSIX::_exit(127);
  }
  local $SIG{TERM} = sub { kill 'TERM', $pid; };
  my $st = watch($pid, $launcher, $tag);
  my $code = ($st & 127) ? 128 + ($st & 127) : ($st >> 8);
  my $elapsed = int(time() - $t0 + 0.5);
  if (open(my $out, '>>', $log)) {
    print $out "# Accounting: time=$elapsed threads=$opt{num_threads}\n";
    print $out "# Ended (code $code) at " . stamp() . "\n";
    close $out;
  }
  POSIX::_exit($code > 255 ? 255 : $code);
}

my $launcher = $$;
my (%running, %gpu_of, %code_of);    # pid -> job index
my $stop = 0;
for my $sig (qw(INT TERM HUP)) {
  $SIG{$sig} = sub { $stop = 1; kill 'TERM', -$_ for keys %running; };
}

sub reap {
  my ($block) = @_;
  my $pid = waitpid(-1, $block ? 0 : WNOHANG);
  return 0 if $pid <= 0 || !exists $running{$pid};
  my $n = delete $running{$pid};
  $code_of{$n} = ($? & 127) ? 128 + ($? & 127) : ($? >> 8);
  $free_gpu{$_} = 1 for @{ delete $gpu_of{$pid} || [] };
  return 1;
}

for my $n (@jobs) {
  last if $stop;
  reap(1) while keys(%running) >= $max;
  last if $stop;
  my @g = @gpus ? take_gpus() : ();
  my $pid = fork();
  fail("$me: fork failed: $!\n") unless defined $pid;
  if ($pid == 0) {
    setpgrp(0, 0);
    $SIG{$_} = 'DEFAULT' for qw(INT HUP);
    run_one($n, \@g, $launcher);
  }
  $running{$pid} = $n;
  $gpu_of{$pid} = \@g;
}
reap(1) while keys %running;

my @failed = grep { !defined $code_of{$_} || $code_of{$_} != 0 } @jobs;
if ($stop) {
  print STDERR "$me: interrupted\n";
  exit 1;
}
# The line of a failed job's log that says why: the last "error:" line (the one-line message of the
# ssrfnet tools, "<tool>: error: ..."), else the last line of output.
sub why_failed {
  my ($log) = @_;
  open(my $fh, '<', $log) or return '';
  my ($error, $last) = ('', '');
  while (my $line = <$fh>) {
    next if $line =~ /^# (Started at|Accounting:|Ended \(code|Running on)/ || $. == 1;
    $line =~ s/\s+$//;
    next if $line eq '';
    $last = $line;
    $error = $line if $line =~ /\b(error|ERROR): /;
  }
  close $fh;
  my $why = $error ne '' ? $error : $last;
  $why = substr($why, 0, 1000) . ' ...' if length($why) > 1000;
  return $why;
}

if (@failed) {
  my $shown = 0;
  for my $n (@failed) {
    last if ++$shown > 10;
    my $log = subst($logtpl, $n);
    my $what = $var ne '' ? "job $n" : 'job';
    print STDERR "$me: $what failed (code $code_of{$n}), log $log\n";
    my $why = why_failed($log);
    print STDERR "  $why\n" if $why ne '';
  }
  printf STDERR "$me: %d / %d jobs failed, logs are in %s\n", scalar(@failed), scalar(@jobs), subst($logtpl, "*")
    if @failed > 1 || $var ne '';
  exit 1;
}
exit 0;
