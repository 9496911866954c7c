"""Stage 2 / stage 3 training (SV-Mixer distillation, SSRFNet OS-KDFT); resumes automatically.

    python -m ssrfnet.bin.train --mode distill|ssrfnet --conf conf/ssrfnet.conf [--conf ...] \\
        --train-data data/vox2_train --dev-data data/vox2_heldout \\
        --dev-trials data/vox2_heldout/trials/heldout.kaldi --musan-dir data --rirs-dir data/rirs \\
        --exp-dir exp/ssrfnet [--init exp/svmixer/final.pt] [--key=value overrides]

Launch it through torchrun for several GPUs/nodes (steps/train.sh does). The effective configuration is
written to <exp-dir>/config.conf at the first start. Re-running the same command resumes from
<exp-dir>/checkpoints/latest; a re-start whose model-shaping options (model block, teacher, speaker count,
mode) differ from the saved ones is refused unless --force-new, which moves the old checkpoints to
checkpoints.old-<time> and starts over.
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.config import ConfError, add_option_groups, parse_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ssrfnet.bin.train",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--mode", choices=["distill", "ssrfnet"], required=True,
                        help="distill = stage 2 (student from the teacher), ssrfnet = stage 3 (OS-KDFT)")
    parser.add_argument("--conf", action="append", default=[], help="Kaldi-style option file(s)")
    parser.add_argument("--train-data", required=True, help="training data dir (wav.scp, utt2spk)")
    parser.add_argument("--dev-data", default=None, help="development data dir for the validation EER")
    parser.add_argument("--dev-trials", default=None, help="development trials: enroll test target|nontarget")
    parser.add_argument("--musan-dir", default="data", help="dir holding musan_{noise,music,speech}")
    parser.add_argument("--rirs-dir", default="data/rirs", help="RIR data dir")
    parser.add_argument("--exp-dir", required=True, help="experiment directory")
    parser.add_argument("--init", default=None, help="stage 3: stage-2 model file (exp/svmixer/final.pt)")
    parser.add_argument("--force-new", action="store_true",
                        help="start over although <exp-dir> holds a run with another configuration")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--debug-exit-after-step", type=int, default=0,
                        help="testing: os._exit() right after this step, as a crash would")
    add_option_groups(parser, "ssrfnet.models.options:add_model_options",
                      "ssrfnet.train.options:add_train_options")
    return parser


def main(argv: list[str] | None = None) -> int:
    from ssrfnet.cpu_memory import keep_freed_memory
    from ssrfnet.train.loop import Builders, RunPaths, TrainError, train

    keep_freed_memory()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        ns = parse_args(parser, argv)
    except ConfError as err:
        parser.error(str(err))
    builders = Builders()
    try:
        from ssrfnet.models.options import model_config_from_args

        builders.model_config = model_config_from_args
    except ImportError:
        pass
    paths = RunPaths(ns.train_data, ns.dev_data, ns.dev_trials, ns.exp_dir, ns.musan_dir, ns.rirs_dir,
                     ns.init)
    try:
        train(ns, ns.mode, paths, force_new=ns.force_new, device=ns.device,
              debug_exit_after_step=ns.debug_exit_after_step, builders=builders,
              argv=["python -m ssrfnet.bin.train", *argv])
    except TrainError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
