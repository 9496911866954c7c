#!/usr/bin/env perl
# queue.pl: run a (possibly parallel) job on a grid engine (SGE/UGE), Kaldi-style.
# The same program also implements slurm.pl (utils/slurm.pl calls it with
# --scheduler slurm); both are drop-in replacements for run.pl.
#
# Usage:
#   queue.pl [options] [JOB=1:N] <log-file> <command> [<args>...]
# e.g.:
#   queue.pl --mem 4G --num-threads 2 JOB=1:8 exp/xv/log/extract.JOB.log \
#     python extract.py data/train/split8/JOB exp/xv/emb.JOB.ark
#
# JOB substitution, command quoting and the log format are those of run.pl
# ("# <command>", "# Started at", output, "# Accounting: time= threads=",
# "# Ended (code N) at"). One array job is submitted and waited for:
#   SGE:   qsub -sync y -t FIRST:LAST [-tc MAX] ... <script>
#   SLURM: sbatch --parsable --wait --array=FIRST-LAST[%MAX] ... <script>
# The generated script, the scheduler's own output and the submit log are in
# <log-dir>/q/. Afterwards every job's log is checked; a job whose log lacks
# "# Ended (code 0)" counts as failed. Exit status 0 only if all succeeded.
#
# Options (each takes a value): --mem, --gpu, --num-threads, --max-jobs-run,
# --config FILE, and any other --name that the config file describes.
# --max-jobs-run N becomes "-tc N" (SGE) or "%N" on the array (SLURM).
#
# A failed job is named with its log and, below it, the last "error:" line of
# that log (else its last line). If queue.pl is interrupted (INT, TERM, HUP)
# or killed (even by SIGKILL: a watcher process notices), the array job is
# cancelled (scancel <job id> / qdel <job name>), so no task keeps running
# and moves its outputs into place after the stage has gone.
#
# Site configuration: conf/queue.conf (SGE) or conf/slurm.conf (SLURM) in the
# current directory if present, or the file given by --config; otherwise the
# built-in defaults below. Format (one directive per line, '#' comments):
#   command <program and fixed arguments>      e.g. command sbatch --export=ALL -p cpu
#   option <name>=* <arguments using $0>       used for any value of --name;
#                                              $0 is replaced by the value
#   option <name>=<value> [<arguments>]        used for that exact value
#                                              (overrides the '*' rule)
#   default <name>=<value>                     value when --name is not given
# Option names use '_' (--num-threads -> num_threads). Arguments are split on
# whitespace; there is no quoting. A command-line option the config does not
# describe is an error.
# Built-in SGE config:                 Built-in SLURM config:
#   command qsub -v PATH -cwd -S /bin/bash -j y   command sbatch --export=ALL
#   option mem=* -l mem_free=$0,ram_free=$0       option mem=* --mem=$0
#   option mem=0                                  option mem=0
#   option num_threads=* -pe smp $0               option num_threads=* --cpus-per-task=$0
#   option num_threads=1                          option num_threads=1 --cpus-per-task=1
#   option gpu=* -l gpu=$0 -q g.q                 option gpu=* --gres=gpu:$0
#   option gpu=0                                  option gpu=0
#   default gpu=0                                 default gpu=0

use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use POSIX ();

my $sched = 'sge';
if (@ARGV >= 2 && $ARGV[0] eq '--scheduler') {
  shift @ARGV;
  $sched = shift @ARGV;
  die "queue.pl: unknown scheduler '$sched'\n" unless $sched =~ /^(sge|slurm)$/;
}
my $me = $sched eq 'slurm' ? 'slurm.pl' : 'queue.pl';

sub fail { print STDERR "$me: ", @_; exit 1; }

sub usage {
  print STDERR "Usage: $me [options] [JOB=1:N] <log-file> <command> [<args>...]\n",
    "e.g.: $me --mem 4G JOB=1:4 exp/log/x.JOB.log echo JOB\n",
    "Options: --mem X, --gpu N, --num-threads N, --max-jobs-run N, --config FILE\n";
  exit 1;
}

my %given;
my $config;
while (@ARGV && $ARGV[0] =~ /^--?[A-Za-z]/) {
  my $flag = shift @ARGV;
  usage() unless @ARGV;
  my $val = shift @ARGV;
  (my $name = $flag) =~ s/^--?//;
  $name =~ s/-/_/g;
  if ($name eq 'config') { $config = $val; next; }
  $given{$name} = $val;
}
for my $n (qw(max_jobs_run num_threads gpu)) {
  fail("option --$n needs a non-negative integer, got '$given{$n}'\n")
    if defined $given{$n} && $given{$n} !~ /^\d+$/;
}

my ($var, $first, $last) = ('', 1, 1);
if (@ARGV && $ARGV[0] =~ /^([A-Za-z_]\w*)=(\d+)(?::(\d+))?$/) {
  ($var, $first, $last) = ($1, $2, defined $3 ? $3 : $2);
  shift @ARGV;
  fail("empty job range $var=$first:$last\n") if $last < $first;
} elsif (@ARGV && $ARGV[0] =~ /^[A-Za-z_]\w*=/) {
  fail("bad job range '$ARGV[0]' (expected e.g. JOB=1:4)\n");
}
usage() if @ARGV < 2;
my $logtpl = shift @ARGV;
if ($var ne '' && $last > $first && index($logtpl, $var) < 0) {
  fail("a parallel job ($var=$first:$last) needs '$var' in the log name, got '$logtpl'\n");
}

sub shell_word {    # run.pl's rule: words without whitespace pass unchanged
  my ($s) = @_;
  return $s if $s =~ /^\S+$/;
  $s =~ s/'/'\\''/g;
  return "'$s'";
}
sub sq {            # always single-quote (for the generated script)
  my ($s) = @_;
  $s =~ s/'/'\\''/g;
  return "'$s'";
}
my $cmdtpl = @ARGV == 1 ? $ARGV[0] : join(' ', map { shell_word($_) } @ARGV);

# ---- configuration
my %default_conf = (
  sge => "command qsub -v PATH -cwd -S /bin/bash -j y\n"
    . "option mem=* -l mem_free=\$0,ram_free=\$0\noption mem=0\n"
    . "option num_threads=* -pe smp \$0\noption num_threads=1\n"
    . "option gpu=* -l gpu=\$0 -q g.q\noption gpu=0\ndefault gpu=0\n",
  slurm => "command sbatch --export=ALL\n"
    . "option mem=* --mem=\$0\noption mem=0\n"
    . "option num_threads=* --cpus-per-task=\$0\noption num_threads=1 --cpus-per-task=1\n"
    . "option gpu=* --gres=gpu:\$0\noption gpu=0\ndefault gpu=0\n",
);
my $conf_text;
my $conf_name = 'built-in defaults';
my $site_conf = $sched eq 'slurm' ? 'conf/slurm.conf' : 'conf/queue.conf';
$config = $site_conf if !defined $config && -f $site_conf;
if (defined $config) {
  open(my $cf, '<', $config) or fail("cannot read config file $config: $!\n");
  local $/;
  $conf_text = <$cf>;
  close $cf;
  $conf_name = $config;
} else {
  $conf_text = $default_conf{$sched};
}
my (@submit, %rule_any, %rule_exact, %defaults);
my $ln = 0;
for my $line (split /\n/, $conf_text) {
  $ln++;
  $line =~ s/#.*//;
  next unless $line =~ /\S/;
  my ($kw, $rest) = $line =~ /^\s*(\S+)\s*(.*?)\s*$/;
  if ($kw eq 'command') {
    @submit = split ' ', $rest;
  } elsif ($kw eq 'option' && $rest =~ /^(\w+)=(\S+)\s*(.*)$/) {
    if ($2 eq '*') { $rule_any{$1} = $3; } else { $rule_exact{"$1=$2"} = $3; }
  } elsif ($kw eq 'default' && $rest =~ /^(\w+)=(\S+)$/) {
    $defaults{$1} = $2;
  } else {
    fail("$conf_name line $ln: cannot parse '$line'\n");
  }
}
fail("$conf_name has no 'command' line\n") unless @submit;

my %opt = (%defaults, %given);
my @sched_args;
for my $name (sort keys %opt) {
  next if $name eq 'max_jobs_run';
  my $val = $opt{$name};
  my $args;
  if (exists $rule_exact{"$name=$val"}) {
    $args = $rule_exact{"$name=$val"};
  } elsif (exists $rule_any{$name}) {
    ($args = $rule_any{$name}) =~ s/\$0/$val/g;
  } else {
    fail("option --$name is not described in $conf_name\n");
  }
  push @sched_args, split(' ', $args);
}
my $threads = (defined $opt{num_threads} && $opt{num_threads} > 0) ? $opt{num_threads} : 1;
my $max = $opt{max_jobs_run} || 0;

# ---- the job script
my $logdir = dirname($logtpl);
my $qdir = "$logdir/q";
eval { make_path($qdir); 1 } or fail("cannot create $qdir\n");
my $base = basename($logtpl);
$base =~ s/\.?\Q$var\E//g if $var ne '';
$base =~ s/\.log$//;
$base = 'job' if $base eq '';
my $script = "$qdir/$base.sh";
my $task_env = $sched eq 'slurm' ? 'SLURM_ARRAY_TASK_ID' : 'SGE_TASK_ID';

my $s = "#!/usr/bin/env bash\n# generated by $me; runs one task of an array job\n"
  . "# shellcheck disable=SC1003,SC2016  # quoted command text is data here\n";
$s .= "cd " . sq(getcwd()) . " || exit 1\n";
$s .= "export PATH=" . sq($ENV{PATH} // '/usr/bin:/bin') . "\n";
$s .= "export PYTHONPATH=" . sq($ENV{PYTHONPATH}) . "\n" if defined $ENV{PYTHONPATH};
$s .= "task=\${$task_env:-$first}\n";
$s .= "log=" . sq($logtpl) . "\ncmd=" . sq($cmdtpl) . "\n";
if ($var ne '') {
  $s .= "log=\${log//$var/\$task}\ncmd=\${cmd//$var/\$task}\n";
}
$s .= <<"EOS";
mkdir -p "\$(dirname "\$log")"
{
  echo "# \$cmd"
  echo "# Started at \$(date)"
  echo "# Running on \$(hostname) ($me task \$task)"
} > "\$log"
start=\$(date +%s)
bash -c "\$cmd" >> "\$log" 2>&1 < /dev/null
ret=\$?
end=\$(date +%s)
{
  echo "# Accounting: time=\$((end - start)) threads=$threads"
  echo "# Ended (code \$ret) at \$(date)"
} >> "\$log"
exit "\$ret"
EOS
open(my $sf, '>', "$script.tmp") or fail("cannot write $script: $!\n");
print $sf $s;
close $sf;
chmod 0755, "$script.tmp";
rename("$script.tmp", $script) or fail("cannot write $script: $!\n");

# Remove stale logs so that an old "# Ended (code 0)" cannot be mistaken.
for my $n ($first .. $last) {
  my $log = $logtpl;
  $log =~ s/\Q$var\E/$n/g if $var ne '';
  unlink $log;
  fail("cannot remove the stale log $log: $!\n") if -e $log;
}

# ---- submit and wait
my @cmd = @submit;
if ($sched eq 'slurm') {
  push @cmd, @sched_args, '--parsable', '--wait', "--job-name=$base",
    "--output=$qdir/$base.%a.out", "--array=$first-$last" . ($max ? "%$max" : ''), $script;
} else {
  push @cmd, @sched_args, '-sync', 'y', '-N', $base, '-o', "$qdir/$base.\$TASK_ID.out",
    '-t', "$first:$last", ($max ? ('-tc', $max) : ()), $script;
}
my $submit_log = "$qdir/$base.submit.log";

sub cancel_array {    # scancel / qdel the array job this run submitted
  my @cancel;
  if ($sched eq 'slurm') {
    my $id;
    if (open(my $fh, '<', $submit_log)) {
      while (<$fh>) { if (/^(\d+)(;\S+)?\s*$/ || /Submitted batch job (\d+)/) { $id = $1; last; } }
      close $fh;
    }
    return unless defined $id;
    @cancel = ('scancel', $id);
  } else {
    @cancel = ('qdel', $base);
  }
  system("@cancel >> '$submit_log' 2>&1");
}

# The submitter runs under a watcher: if queue.pl dies, the watcher cancels the array job.
my $launcher = $$;
my $pid = fork();
fail("fork failed: $!\n") unless defined $pid;
if ($pid == 0) {
  setpgrp(0, 0);
  my $sub = fork();
  exit 127 unless defined $sub;
  if ($sub == 0) {
    open(STDOUT, '>', $submit_log) or exit 127;
    open(STDERR, '>&', \*STDOUT);
    open(STDIN, '<', '/dev/null');
    exec(@cmd) or do { print STDERR "cannot run $cmd[0]: $!\n"; exit 127; };
  }
  my $stop = 0;
  $SIG{$_} = sub { $stop = 1; } for qw(INT TERM HUP);
  while (1) {
    my $got = waitpid($sub, POSIX::WNOHANG());
    if ($got == $sub) { POSIX::_exit($? >> 8); }
    if ($stop || getppid() != $launcher) {
      cancel_array();
      kill 'TERM', -$$;
      POSIX::_exit(130);
    }
    select(undef, undef, undef, 0.2);
  }
}
for my $sig (qw(INT TERM HUP)) {
  $SIG{$sig} = sub { kill 'TERM', $pid; waitpid($pid, 0); print STDERR "$me: interrupted; array job cancelled\n"; exit 1; };
}
waitpid($pid, 0);
my $submit_status = $? >> 8;

sub log_code {
  my ($log) = @_;
  open(my $fh, '<', $log) or return undef;
  my $code;
  while (<$fh>) { $code = $1 if /^# Ended \(code (-?\d+)\)/; }
  close $fh;
  return $code;
}
my %code;
my $tries = 0;
while (1) {
  %code = ();
  for my $n ($first .. $last) {
    my $log = $logtpl;
    $log =~ s/\Q$var\E/$n/g if $var ne '';
    $code{$n} = log_code($log);
  }
  my $missing = grep { !defined $code{$_} } keys %code;
  # The scheduler said all went well but some logs are not complete yet
  # (slow shared file system): wait a little.
  last if !$missing || $submit_status != 0 || ++$tries > 30;
  sleep 1;
}
my $nmissing = grep { !defined $code{$_} } keys %code;
if ($nmissing == $last - $first + 1 && $submit_status != 0) {
  my $out = '';
  if (open(my $fh, '<', $submit_log)) { local $/; $out = <$fh> // ''; close $fh; }
  fail("submission failed (exit status $submit_status): '@cmd'\n$out" . "see $submit_log\n");
}
# The line of a failed job's log that says why: the last "error:" line, else the last line of output.
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

my @failed = grep { !defined $code{$_} || $code{$_} != 0 } ($first .. $last);
if (@failed) {
  my $shown = 0;
  for my $n (@failed) {
    last if ++$shown > 10;
    my $log = $logtpl;
    $log =~ s/\Q$var\E/$n/g if $var ne '';
    my $why = defined $code{$n} ? "code $code{$n}" : 'no "# Ended" line: killed or never ran';
    my $what = $var ne '' ? "job $n" : 'job';
    print STDERR "$me: $what failed ($why), log $log\n";
    my $line = why_failed($log);
    print STDERR "  $line\n" if $line ne '';
  }
  my $pattern = $logtpl;
  $pattern =~ s/\Q$var\E/*/g if $var ne '';
  printf STDERR "$me: %d / %d jobs failed, logs are in %s (scheduler output in %s)\n",
    scalar(@failed), $last - $first + 1, $pattern, $qdir;
  exit 1;
}
exit 0;
