#!/usr/bin/env bash
# Brings the project's environment up when it is missing; a fast no-op when it is present.
#   1. Debian packages the recipe calls (TTS engines, sox, ffmpeg, fluidsynth, shellcheck):
#      installed with apt-get when running as root, otherwise the exact command is printed.
#   2. A virtual environment in <repo>/.venv with the pinned requirements.txt; a stamp with the
#      requirements' checksum makes the next call return at once, and a changed requirements.txt
#      triggers a reinstall.
# Usage: utils/setup_env.sh [--no-apt] [--quiet]
# e.g.:  utils/setup_env.sh
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
use_apt=true
quiet=false
for arg in "$@"; do
  case $arg in
    --no-apt) use_apt=false ;;
    --quiet) quiet=true ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "$0: unknown option $arg" >&2; exit 1 ;;
  esac
done
say() { $quiet || echo "setup_env: $*" >&2; }

apt_packages=(espeak-ng flite festival festvox-kdlpc16k fortunes sox ffmpeg fluidsynth timgm6mb-soundfont
              shellcheck)
if $use_apt; then
  missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      say "installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
      echo "setup_env: missing Debian packages; run:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

venv=$root/.venv
stamp=$venv/.requirements.sha256
want=$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
say "creating/updating $venv from requirements.txt (torch is large: a few minutes)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >&2
"$venv/bin/python" -m pip install -q -r "$root/requirements.txt" >&2
"$venv/bin/python" -c 'import torch, torchaudio, transformers, kaldiio, soundfile' >&2
echo "$want" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
say "environment ready"
