#!/usr/bin/env perl
# Convert an utt2spk file ("<utt> <spk>" per line) into spk2utt
# ("<spk> <utt1> <utt2> ..." per line).
# Speakers are written in order of first appearance and utterances in input
# order, so a speaker-sorted utt2spk gives a sorted spk2utt.
# Usage: utt2spk_to_spk2utt.pl [<utt2spk>...] > spk2utt   (stdin if no file)
# e.g.: utils/utt2spk_to_spk2utt.pl data/train/utt2spk > data/train/spk2utt
use strict;
use warnings;

if (@ARGV && $ARGV[0] =~ /^-/) {
  print STDERR "Usage: $0 [<utt2spk>...] > spk2utt\n",
    "e.g.: $0 data/train/utt2spk > data/train/spk2utt\n";
  exit 1;
}
my (@order, %utts);
while (my $line = <>) {
  my @f = split ' ', $line;
  next if !@f;
  if (@f != 2) {
    chomp $line;
    print STDERR "$0: bad utt2spk line $. (need 2 fields): '$line'\n";
    exit 1;
  }
  my ($utt, $spk) = @f;
  push @order, $spk if !exists $utts{$spk};
  push @{ $utts{$spk} }, $utt;
}
print join(' ', $_, @{ $utts{$_} }), "\n" for @order;
