#!/usr/bin/env perl
# Convert a spk2utt file ("<spk> <utt1> <utt2> ..." per line) into utt2spk
# ("<utt> <spk>" per line), in input order.
# Usage: spk2utt_to_utt2spk.pl [<spk2utt>...] > utt2spk   (stdin if no file)
# e.g.: utils/spk2utt_to_utt2spk.pl data/train/spk2utt > data/train/utt2spk
use strict;
use warnings;

if (@ARGV && $ARGV[0] =~ /^-/) {
  print STDERR "Usage: $0 [<spk2utt>...] > utt2spk\n",
    "e.g.: $0 data/train/spk2utt > data/train/utt2spk\n";
  exit 1;
}
while (my $line = <>) {
  my ($spk, @utts) = split ' ', $line;
  next if !defined $spk;
  if (!@utts) {
    print STDERR "$0: speaker '$spk' has no utterances (line $.)\n";
    exit 1;
  }
  print "$_ $spk\n" for @utts;
}
