#!/usr/bin/env bash
# Prints the largest "peak resident memory" that the ssrfnet tools logged in the given job logs, as one line:
#   <label>: peak resident memory N MiB (largest of M processes)
# Usage: utils/peak_memory.sh <label> <log> [<log> ...]
# e.g.:  utils/peak_memory.sh "stage 4 extraction" exp/ssrfnet/embeddings/vox1/log/extract.*.log
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
label=$1
shift
# every process line: "<tool>: peak resident memory N MiB ..."; a missing log is no error (nothing to add)
grep -h "peak resident memory" "$@" 2>/dev/null |
  sed -n 's/.*peak resident memory \([0-9]*\) MiB.*/\1/p' |
  sort -n | awk -v label="$label" '{ max = $1; n++ } END { if (n) printf "%s: peak resident memory %d MiB (largest of %d processes)\n", label, max, n }'
