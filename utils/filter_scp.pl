#!/usr/bin/env perl
# Keep the lines of an scp/table file whose key is listed in <id-list>
# (the first field of each line of <id-list>), in the order of the input.
# Usage: filter_scp.pl [--exclude] [-f <field>] <id-list> [<in.scp>...] > out.scp
#   --exclude   keep the lines whose key is NOT in the list instead
#   -f N        use field N (1-based) of each input line as the key (default 1)
# e.g.: utils/filter_scp.pl data/dev/utt2spk data/all/wav.scp > data/dev/wav.scp
use strict;
use warnings;

sub usage {
  print STDERR "Usage: $0 [--exclude] [-f <field>] <id-list> [<in.scp>...] > out.scp\n",
    "e.g.: $0 data/dev/utt2spk data/all/wav.scp > data/dev/wav.scp\n";
  exit 1;
}
my ($exclude, $field) = (0, 1);
while (@ARGV && $ARGV[0] =~ /^-./) {
  my $o = shift @ARGV;
  if ($o eq '--exclude') { $exclude = 1; }
  elsif ($o eq '-f') {
    $field = shift @ARGV;
    usage() unless defined $field && $field =~ /^[1-9]\d*$/;
  } elsif ($o eq '--') { last; }
  else { print STDERR "$0: unknown option $o\n"; usage(); }
}
usage() unless @ARGV >= 1;
my $list = shift @ARGV;
open(my $lf, '<', $list) or do { print STDERR "$0: cannot open id list $list: $!\n"; exit 1; };
my %keep;
while (<$lf>) {
  my ($id) = split ' ';
  $keep{$id} = 1 if defined $id;
}
close $lf;
while (my $line = <>) {
  my @f = split ' ', $line;
  next if @f < $field;
  my $in = exists $keep{ $f[$field - 1] };
  print $line if ($in xor $exclude);
}
