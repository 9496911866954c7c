# shellcheck shell=bash
# Sourced by recipes and step scripts: puts the project's venv, utils/ and the ssrfnet package first.
# Works from the repository root and through the egs/<corpus>/path.sh links.
_ssrfnet_root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
export SSRFNET_ROOT=$_ssrfnet_root
export PATH=$SSRFNET_ROOT/.venv/bin:$SSRFNET_ROOT/utils:$PATH
export PYTHONPATH=$SSRFNET_ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
export PYTHONIOENCODING=UTF-8
export LC_ALL=C
# No network on many compute nodes: never let transformers/huggingface try to reach a hub
# unless the user opts in by setting HF_HUB_OFFLINE=0.
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
unset _ssrfnet_root
