#!/usr/bin/env bash
# Kaldi-style command-line option parsing for recipe and step scripts.
#
# Source it (never execute it) AFTER the defaults and WITHOUT arguments, so
# that it edits the caller's own positional parameters:
#
#     stage=0
#     stop_stage=100
#     nj=4
#     cmd=run.pl
#     use_gpu=false
#     help_message="Usage: $0 [options] <data-dir>"
#     . utils/parse_options.sh || exit 1
#     set -euo pipefail        # may also be set before sourcing
#
# Rules:
#   --foo-bar VALUE   sets the already defined shell variable foo_bar; '-' in
#                     the name becomes '_', so --stop-stage and --stop_stage
#                     are the same option. An undefined name is an error:
#                     "invalid option --foo-bar".
#   --name=value      is rejected, as in Kaldi: write "--name value".
#   booleans          a variable whose current value is 'true' or 'false'
#                     only accepts 'true' or 'false'.
#   --help, -h        prints $help_message and exits 0.
#   --config FILE     (may be given several times, anywhere on the command
#                     line) is sourced as bash before the other options are
#                     applied, so the command line wins over the file.
#   --cmd ''          an empty --cmd is rejected.
#   --                ends option parsing; everything after it is positional.
# Parsing stops at the first argument that does not start with '--'; that
# argument and all following ones remain in "$@".
#
# The script only uses variables prefixed with __po_ and unsets them again.

# Pass 1: source every --config file first so the command line has priority.
__po_i=1
while [ "$__po_i" -le "$#" ]; do
  __po_arg=${!__po_i}
  case "$__po_arg" in
    --) break ;;
    --config)
      __po_j=$((__po_i + 1))
      if [ "$__po_j" -gt "$#" ]; then
        echo "$0: option --config needs a file argument" >&2
        exit 1
      fi
      __po_conf=${!__po_j}
      if [ ! -r "$__po_conf" ]; then
        echo "$0: cannot read config file '$__po_conf' (given by --config)" >&2
        exit 1
      fi
      # shellcheck disable=SC1090  # the config file is chosen at run time
      . "$__po_conf" || { echo "$0: error sourcing config file $__po_conf" >&2; exit 1; }
      __po_i=$((__po_i + 2))
      ;;
    --*) __po_i=$((__po_i + 2)) ;;
    -h) __po_i=$((__po_i + 1)) ;;
    *) break ;;
  esac
done

# Pass 2: apply the options in order.
while [ "$#" -gt 0 ]; do
  case "$1" in
    --help|-h)
      if [ -n "${help_message:-}" ]; then
        printf '%s\n' "$help_message"
      else
        echo "$0: no help message available (help_message is not set)"
      fi
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      echo "$0: options must be given as '--name value', not '$1'" >&2
      exit 1
      ;;
    --config)
      shift 2  # already sourced in pass 1
      ;;
    --*)
      __po_name=${1#--}
      __po_name=${__po_name//-/_}
      if ! [[ "$__po_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!__po_name+set}" ]; then
        echo "$0: invalid option $1" >&2
        exit 1
      fi
      if [ "$#" -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2
        exit 1
      fi
      __po_old=${!__po_name}
      if [ "$__po_old" = true ] || [ "$__po_old" = false ]; then
        case "$2" in
          true|false) ;;
          *)
            echo "$0: option $1 is boolean and needs 'true' or 'false', got '$2'" >&2
            exit 1
            ;;
        esac
      fi
      if [ "$__po_name" = cmd ] && [ -z "$2" ]; then
        echo "$0: empty argument to --cmd" >&2
        exit 1
      fi
      printf -v "$__po_name" '%s' "$2"
      shift 2
      ;;
    *)
      break
      ;;
  esac
done

unset __po_i __po_j __po_arg __po_conf __po_name __po_old
true  # the sourcing script sees status 0
