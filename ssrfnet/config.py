"""Kaldi-style option files (`conf/*.conf`) as defaults for argparse entry points.

A conf file holds one `--key=value` per line; `#` starts a comment. Entry points build an argparse
parser from option groups (functions `add_xxx_options(parser)` beside the code they configure), and
`parse_args` reads every `--conf FILE` given on the command line as defaults, the command line overriding
them. One conf file configures a whole recipe, so it may hold keys of another stage's groups: the caller
names those (`other_keys`, see `ssrfnet.cli`, which knows every group) and they are skipped, while a key
nobody knows (a typo) is an error naming the file and line. `write_conf` stores the effective
configuration in the experiment directory, and later stages read it back with
`--conf exp/<name>/config.conf`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from ssrfnet.errors import ConfError
from ssrfnet.fileio import atomic_write

# The first comment line of an experiment's effective configuration (`write_conf(..., header=...)`).
EFFECTIVE_CONFIG_HEADER = "Effective configuration of "
_SOURCES = "_option_sources"  # the Namespace attribute where parse_args keeps where options were set


def str2bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def int_list(value: str | list) -> list[int]:
    """'8,16,24' -> [8, 16, 24]."""
    if isinstance(value, list):
        return [int(v) for v in value]
    text = str(value).strip()
    if not text:
        return []
    try:
        return [int(v) for v in text.replace(" ", "").split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from err


def float_list(value: str | list) -> list[float]:
    if isinstance(value, list):
        return [float(v) for v in value]
    text = str(value).strip()
    if not text:
        return []
    try:
        return [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from err


def read_conf(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """Return (key, value, line number) for each option in a conf file; keys use hyphens."""
    path = Path(path)
    if not path.is_file():
        raise ConfError(f"{path}: conf file not found")
    entries = []
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if not line.startswith("--") or "=" not in line:
                raise ConfError(f"{path}:{lineno}: expected '--key=value', got {raw.rstrip()!r}")
            key, value = line[2:].split("=", 1)
            entries.append((key.strip().replace("_", "-"), value.strip(), lineno))
    return entries


def option_names(*groups) -> set[str]:
    """Every option name (without '--', hyphenated) that the given option groups define."""
    probe = argparse.ArgumentParser(add_help=False)
    for add in groups:
        add(probe)
    return {opt[2:] for action in probe._actions for opt in action.option_strings if opt.startswith("--")}


def _option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        opt[2:].replace("_", "-"): action
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--")
    }


def _convert(action: argparse.Action, value: str, where: str):
    option = "--" + action.dest.replace("_", "-")

    def one(text: str):
        if action.type is None:
            return text
        try:
            return action.type(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            raise ConfError(f"{where}: bad value {text!r} for {option}: {err}") from err

    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        return [one(v) for v in value.split()]
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return str2bool(value)
    result = one(value)
    if action.choices is not None and result not in action.choices:
        raise ConfError(f"{where}: {option}={value} is not one of {list(action.choices)}")
    return result


@dataclass(frozen=True)
class OptionSource:
    """Where an option's value was set: a conf file and line, or the command line (path None)."""

    path: str | None
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.path else "the command line"


def is_effective_config(path: str | os.PathLike) -> bool:
    """True for a conf file written by `write_conf` as an experiment's effective configuration (stage 3's
    `exp/<name>/config.conf`): it lists every option, defaults included, so nobody chose its values one by
    one."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().startswith(f"# {EFFECTIVE_CONFIG_HEADER}")
    except OSError:
        return False


def option_sources(args: argparse.Namespace) -> dict[str, OptionSource]:
    """dest -> where its value was set (the last conf file that set it, or the command line, which wins), for
    the options `parse_args` saw set; options left at their defaults are absent."""
    return dict(getattr(args, _SOURCES, {}))


def chosen_options(sources: dict[str, OptionSource]) -> dict[str, OptionSource]:
    """The options a user chose, of `option_sources(args)`: set on the command line or in a conf file other
    than an experiment's effective configuration (which lists every option, defaults included)."""
    effective: dict[str, bool] = {}
    chosen = {}
    for dest, source in sources.items():
        if source.path is not None:
            if source.path not in effective:
                effective[source.path] = is_effective_config(source.path)
            if effective[source.path]:
                continue
        chosen[dest] = source
    return chosen


def _command_line_dests(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The dests that argv sets (abbreviations and `--key value` included): argv parsed once more with every
    default suppressed, so that only what it names lands in the namespace. (The options of a subcommand's
    parser keep their defaults there, so they all count as set.)"""
    saved_defaults = {id(a): a.default for a in parser._actions}
    saved_parser_defaults = dict(parser._defaults)
    try:
        parser._defaults.clear()
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_args(argv)))
    finally:
        for action in parser._actions:
            action.default = saved_defaults[id(action)]
        parser._defaults.update(saved_parser_defaults)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None,
               other_keys: Container[str] = frozenset()) -> argparse.Namespace:
    """Parse argv with defaults taken from every `--conf FILE` (later files win, the command line wins).

    A conf key that `parser` does not define is skipped if it is in `other_keys` (another stage's option),
    else it is an error naming the file and line. Where each option was set is kept for `option_sources`."""
    if not any("--conf" in action.option_strings for action in parser._actions):
        parser.add_argument("--conf", action="append", default=[], help="Kaldi-style option file(s)")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--conf", action="append", default=[])
    conf_ns, _ = pre.parse_known_args(argv)
    actions = _option_actions(parser)
    defaults = {}
    sources: dict[str, OptionSource] = {}
    for conf_path in conf_ns.conf:
        for key, value, lineno in read_conf(conf_path):
            where = f"{conf_path}:{lineno}"
            if key in actions:
                action = actions[key]
                defaults[action.dest] = _convert(action, value, where)
                sources[action.dest] = OptionSource(str(conf_path), lineno)
                action.required = False
            elif key not in other_keys:
                raise ConfError(f"{where}: unknown option --{key}")
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    for dest in _command_line_dests(parser, argv) - {"conf"}:
        sources[dest] = OptionSource(None)
    setattr(args, _SOURCES, sources)
    return args


def config_dict(args: argparse.Namespace | dict, *groups) -> dict:
    """The values (dest -> value) of the options that the given option groups define."""
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    probe = argparse.ArgumentParser(add_help=False)
    for add in groups:
        add(probe)
    return {a.dest: values[a.dest] for a in probe._actions if a.option_strings and a.dest in values}


def format_value(value) -> str:
    """A config value as it is written in a conf file (booleans true/false, lists comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return "" if value is None else str(value)


def write_conf(path: str | os.PathLike, values: dict, header: str | None = None) -> None:
    """Write `values` (dest -> value) as a Kaldi option file, atomically."""
    with atomic_write(path) as handle:
        if header:
            for line in header.splitlines():
                handle.write(f"# {line}\n")
        for dest, value in values.items():
            if value is None:
                continue
            handle.write(f"--{dest.replace('_', '-')}={format_value(value)}\n")
