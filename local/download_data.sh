#!/usr/bin/env bash
# Download the corpus archives listed in a URLs file, check their md5, join multi-part archives and unpack.
# VoxCeleb needs a registration with VGG to get its URLs; MUSAN and RIRS_NOISES are on OpenSLR.
#
# URLs file: one archive per line, `<name> <url> <md5> [<unpack-subdir>]`, '#' comments allowed, e.g.
#   musan.tar.gz          https://www.openslr.org/resources/17/musan.tar.gz     0c472d4fc0c5141eca47ad1ffeb2a7df
#   rirs_noises.zip       https://www.openslr.org/resources/28/rirs_noises.zip  e6f48e257286e05de56413b4779d8ffb
#   vox1_dev_wav_partaa   <url from VGG>  <md5 from VGG>      (parts aa..ad are joined into vox1_dev_wav.zip)
#   vox1_test_wav.zip     <url>  <md5>
#   vox2_dev_aac_partaa   <url>  <md5>                        (parts aa..ah -> vox2_dev_aac.zip)
#   veri_test2.txt        <url>  <md5>                        (and list_test_all2.txt, list_test_hard2.txt)
# Unpacks vox1* (and trial lists) into <download-dir>/voxceleb1, vox2* into <download-dir>/voxceleb2 and the
# rest into <download-dir>, which gives the roots that stages 0 and 1 of run.sh take:
#   <download-dir>/voxceleb1  <download-dir>/voxceleb2  <download-dir>/musan  <download-dir>/RIRS_NOISES
# Archives already present with the right md5 are not downloaded again; a wrong md5 is an error and the
# file is moved aside to <name>.bad. Check the md5 sums above against the publishers' pages.

# Begin configuration section.
stage=0   # 0: download and check md5; 1: join multi-part archives; 2: unpack
nj=4      # parallel downloads
# End configuration section.

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options] <download-dir> <urls-file>
e.g.: $0 --stage 0 /corpora downloads.txt
 <urls-file> lines: <name> <url> <md5> [<unpack-subdir>]
Options:
  --stage <n>  # 0 download+md5, 1 join parts, 2 unpack (default $stage)
  --nj <n>     # parallel downloads (default $nj)"

echo "$0 $*"
# shellcheck disable=SC1091
if [ -f path.sh ]; then . ./path.sh; fi
# shellcheck disable=SC1091
. utils/parse_options.sh || exit 1
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "$help_message" >&2
  exit 1
fi

python -m ssrfnet.bin.download --stage "$stage" --nj "$nj" "$1" "$2"
