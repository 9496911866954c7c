"""Kaldi-style option files (`conf/*.conf`) as defaults for argparse entry points.

A conf file holds one `--key=value` per line; `#` starts a comment. Entry points build an argparse
parser from option groups, `parse_args` reads every `--conf FILE` given on the command line as
defaults, and the command line overrides them. One conf file configures a whole recipe, so it may
hold keys that belong to another stage's group: those are skipped here, while a key no group knows
(a typo) is an error naming the file and line. `write_conf` stores the effective configuration
in the experiment directory, and later stages read it back with `--conf exp/<name>/config.conf`.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

from ssrfnet.errors import ConfError
from ssrfnet.fileio import atomic_write

# Every option group of the project, as "module:function(parser)". A conf key must belong to one.
OPTION_GROUPS = (
    "ssrfnet.models.options:add_model_options",
    "ssrfnet.train.options:add_train_options",
    "ssrfnet.scoring.options:add_eval_options",
)


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


def _load_group(spec: str):
    module_name, func_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            return None  # that part of the package is not installed/built
        raise
    return getattr(module, func_name)


def add_option_groups(parser: argparse.ArgumentParser, *specs: str) -> argparse.ArgumentParser:
    for spec in specs:
        add = _load_group(spec)
        if add is None:
            raise ConfError(f"option group {spec} is not available")
        add(parser)
    return parser


def known_conf_keys() -> set[str]:
    """Every option name (without '--', hyphenated) that some option group of the project defines."""
    probe = argparse.ArgumentParser(add_help=False)
    for spec in OPTION_GROUPS:
        add = _load_group(spec)
        if add is not None:
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


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse argv with defaults taken from every `--conf FILE` (later files win, the command line wins)."""
    if not any("--conf" in action.option_strings for action in parser._actions):
        parser.add_argument("--conf", action="append", default=[], help="Kaldi-style option file(s)")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--conf", action="append", default=[])
    conf_ns, _ = pre.parse_known_args(argv)
    actions = _option_actions(parser)
    other_keys: set[str] | None = None
    defaults = {}
    for conf_path in conf_ns.conf:
        for key, value, lineno in read_conf(conf_path):
            where = f"{conf_path}:{lineno}"
            if key in actions:
                action = actions[key]
                defaults[action.dest] = _convert(action, value, where)
                action.required = False
                continue
            if other_keys is None:
                other_keys = known_conf_keys()
            if key not in other_keys:
                raise ConfError(f"{where}: unknown option --{key}")
    parser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_format_value(v) for v in value)
    return "" if value is None else str(value)


def config_dict(args: argparse.Namespace | dict, *specs: str) -> dict:
    """The values of the options defined by the given groups (all groups when none are named)."""
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    probe = argparse.ArgumentParser(add_help=False)
    for spec in specs or OPTION_GROUPS:
        add = _load_group(spec)
        if add is not None:
            add(probe)
    dests = [a.dest for a in probe._actions if a.option_strings and a.dest in values]
    return {dest: values[dest] for dest in dests}


def write_conf(path: str | os.PathLike, values: dict, header: str | None = None) -> None:
    """Write `values` (dest -> value) as a Kaldi option file, atomically."""
    with atomic_write(path) as handle:
        if header:
            for line in header.splitlines():
                handle.write(f"# {line}\n")
        for dest, value in values.items():
            if value is None:
                continue
            handle.write(f"--{dest.replace('_', '-')}={_format_value(value)}\n")
