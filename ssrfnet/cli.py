"""The command-line layer under every `python -m ssrfnet.bin.<tool>`: one way to build a parser, set up the
process and report errors.

- `new_parser(tool, doc, *groups)`: an argparse parser with `--conf FILE` (Kaldi option files, repeatable) and
  the given option groups; `runtime=True` adds `--num-threads` and `--device`.
- `run(tool, parser, body, argv)`: parses the conf files and the command line (the command line wins; a conf
  may hold the keys of every option group of the project, since one conf configures a whole recipe), applies
  the runtime options, calls `body(args)` and maps the outcome to an exit status: 0 on success; 1 for any
  `SSRFNetError` (an error the user can fix), printed as the single line `<tool>: error: <message>`; 2 for
  argparse's usage errors; 130 for Ctrl-C. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import time
from collections.abc import Callable

from ssrfnet.config import option_names, parse_args
from ssrfnet.cpu_memory import keep_freed_memory
from ssrfnet.errors import SSRFNetError

EVAL_SETS = ("vox1", "voxsrc23", "vcmix", "voices", "cnceleb", "sitw")


def eval_sets_value(text: str) -> str:
    """--eval-sets: all, or a comma-separated list of known set names (a typo would drop a set silently)."""
    if text.strip() == "all":
        return "all"
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in EVAL_SETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give all or names from {', '.join(EVAL_SETS)}")
    return ",".join(names)


def add_recipe_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options that run.sh reads from the conf (and stage 3 keeps in config.conf)."""
    group = parser.add_argument_group("recipe")
    group.add_argument("--exp-name", default="ssrfnet",
                       help="experiment name: run.sh trains into exp/<name>/")
    group.add_argument("--eval-sets", default="all", type=eval_sets_value,
                       help="evaluation sets beyond VoxCeleb1 that run.sh prepares, extracts and scores: all "
                            "(every set whose root is given; every stand-in on the mini corpus) or a "
                            "comma-separated list such as voxsrc23,vcmix (vox1 alone: vox1)")
    return parser


def option_groups() -> tuple:
    """Every option group of the project: a conf key must belong to one of them. (Imported when needed:
    the model group pulls in torch, which tools without confs need not pay for.)"""
    from ssrfnet.models.options import add_model_options
    from ssrfnet.scoring.options import add_eval_options
    from ssrfnet.train.options import add_train_options

    return add_model_options, add_train_options, add_eval_options, add_recipe_options


@functools.cache
def all_option_names() -> frozenset[str]:
    return frozenset(option_names(*option_groups()))


class _AllOptionNames:
    """`key in ...` against every option of the project, computed at the first question."""

    def __contains__(self, key: object) -> bool:
        return key in all_option_names()


def new_parser(tool: str, doc: str, *groups, runtime: bool = True, device: str = "auto",
               ) -> argparse.ArgumentParser:
    """A parser for `python -m ssrfnet.bin.<tool>` whose help is the module docstring `doc`."""
    parser = argparse.ArgumentParser(prog=f"python -m ssrfnet.bin.{tool}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", action="append", default=[],
                        help="Kaldi-style option file (--key=value lines); repeatable, later files win")
    if runtime:
        parser.add_argument("--num-threads", type=threads_value, default=0,
                            help="torch CPU threads (0: the torch default; auto: the cores other processes "
                                 "leave free, at most $OMP_NUM_THREADS; docs/scale.md, thread policy)")
        parser.add_argument("--device", default=device,
                            help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    for add in groups:
        add(parser)
    return parser


def add_model_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--model", required=required,
                        help="model file (ours or an official artifact), a directory holding the released "
                             "SSRFNet pair, or a.pt,b.pt (docs/official-models.md)")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                        help="torch (the model file), or onnxruntime (the checked export that stage 6 wrote "
                             "beside it; CPU)")
    parser.add_argument("--quantize", choices=["none", "int8"], default="none",
                        help="int8: run the exported model.int8.onnx (with --backend onnxruntime)")


def threads_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a thread count >= 0 or auto, got {text!r}")
    return value


def busy_cores_of_others(window_s: float = 0.5) -> float:
    """Cores kept busy by other processes: /proc/stat sampled over `window_s` while this process sleeps
    (0.0 where /proc/stat cannot be read)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
        return sum(fields), fields[3] + fields[4]  # all, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window_s)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    if total1 <= total0:
        return 0.0
    return (1.0 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def auto_threads(cap: int, busy: float) -> int:
    """Threads for a process when `busy` cores are taken by others: the free cores (rounded), within 1..cap.
    With OpenMP threads on a core that another process keeps busy, every parallel region waits for a
    descheduled thread: on 2 cores with one busy process, mini training ran at 2.7 samples/s with 2
    threads and 6.7 with 1 (docs/scale.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cap, int(cores - busy + 0.5)))


def omp_thread_cap() -> int:
    """The first level of $OMP_NUM_THREADS (OpenMP also accepts a nested list such as 4,2); the CPU count
    where it is unset or not a positive number."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else (os.cpu_count() or 1)


def apply_runtime(args: argparse.Namespace) -> None:
    """Thread count and allocator settings of a CPU-heavy process."""
    keep_freed_memory()
    threads = getattr(args, "num_threads", 0)
    if threads == "auto":
        cap = omp_thread_cap()
        busy = busy_cores_of_others()
        threads = args.num_threads = auto_threads(cap, busy)
        print(f"threads: {threads} (auto: {busy:.1f} core(s) busy with other processes, at most {cap})",
              file=sys.stderr, flush=True)
    if threads and threads > 0:
        import torch

        torch.set_num_threads(threads)


def one_line(err: BaseException) -> str:
    """The error's message on one line. An error re-raised from a DataLoader worker carries the worker's
    traceback in its message: only the original message is kept."""
    text = str(err)
    if "Original Traceback (most recent call last):" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        name, sep, message = last.partition(": ")
        if sep and name.rsplit(".", 1)[-1] == type(err).__name__:
            text = f"{message} (in a DataLoader worker)"
    return " ".join(text.split()) or type(err).__name__


def peak_memory_line(tool: str) -> str:
    """This process's peak resident memory (and its largest child's, e.g. a DataLoader worker), one line."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"{tool}: peak resident memory {own:.0f} MiB" + (f" (largest child process {child:.0f} MiB)"
                                                            if child else "")


def run(tool: str, parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int | None],
        argv: list[str] | None = None, memory: bool = False) -> int:
    """Parse, set up, run `body(args)`; returns the exit status (see the module docstring). `memory`: report
    the peak resident memory on stderr at the end of a successful run (the stages' tools do)."""
    try:
        args = parse_args(parser, argv, other_keys=_AllOptionNames())
        apply_runtime(args)
        status = int(body(args) or 0)
        if memory:
            print(peak_memory_line(tool), file=sys.stderr, flush=True)
        return status
    except SSRFNetError as err:
        print(f"{tool}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return 130


def main_of(tool: str, build_parser: Callable[[], argparse.ArgumentParser],
            body: Callable[[argparse.Namespace], int | None], memory: bool = False,
            ) -> Callable[[list[str] | None], int]:
    """The `main(argv=None) -> int` of an entry point (`memory`: see `run`)."""
    def main(argv: list[str] | None = None) -> int:
        return run(tool, build_parser(), body, argv, memory)

    main.__doc__ = f"Entry point of python -m ssrfnet.bin.{tool}."
    return main
