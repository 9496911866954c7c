"""Stage 2 / 3 / 7 training (student distillation, OS-KDFT or AAM alone, large-margin fine-tuning);
resumes automatically.

e.g.: python -m ssrfnet.bin.train --mode distill|ssrfnet --conf conf/ssrfnet.conf [--conf ...] \\
        --train-data data/vox2_train --dev-data data/vox2_heldout \\
        --dev-trials data/vox2_heldout/trials/heldout.kaldi --musan-dir data --rirs-dir data/rirs \\
        --exp-dir exp/ssrfnet [--init exp/ssrfnet_student/final.pt] [--key=value overrides]
      python -m ssrfnet.bin.train --mode lmft --conf exp/ssrfnet/config.conf --conf conf/lm.conf \\
        --init exp/ssrfnet/final.pt ... --exp-dir exp/ssrfnet_lm

A model type without a student (redimnet, ssrfnet_nofusion) has no stage 2 and trains with AAM alone; an
option it would ignore (a teacher, KD or stage-2 option, --init, a model key of another type) set in a conf
or on the command line is an error naming it and where it was set (stage 3's effective config.conf, which
lists every option, is exempt). Stage 7 (--mode lmft) starts from the averaged stage-3 model (--init) and
trains the speaker loss alone with the margin ramped to --lm-margin.

Launch it through torchrun for several GPUs/nodes (steps/train.sh does). The effective configuration of every
option group is written to <exp-dir>/config.conf and read by the later stages. Re-running the same command
resumes from <exp-dir>/checkpoints/latest; a re-start whose model-shaping options (model block, teacher,
speaker count, mode) differ from the saved ones is refused unless --force-new, which moves the old checkpoints
to checkpoints.old-<time> and starts over.
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.config import config_dict
from ssrfnet.models.options import add_model_options
from ssrfnet.scoring.options import add_eval_options
from ssrfnet.train.options import add_train_options


def build_parser():
    parser = cli.new_parser("train", __doc__, add_model_options, add_train_options, add_eval_options,
                            cli.add_recipe_options, device="auto")
    add = parser.add_argument
    add("--mode", choices=["distill", "ssrfnet", "lmft"], required=True,
        help="distill = stage 2 (student from the teacher), ssrfnet = stage 3 (OS-KDFT; AAM alone for a "
             "student-free model), lmft = stage 7 (large-margin fine-tuning of the stage-3 model)")
    add("--train-data", required=True, help="training data dir (wav.scp, utt2spk)")
    add("--dev-data", default=None, help="development data dir for the validation EER")
    add("--dev-trials", default=None, help="development trials: enroll test target|nontarget")
    add("--musan-dir", default="data", help="dir holding musan_{noise,music,speech}")
    add("--rirs-dir", default="data/rirs", help="RIR data dir")
    add("--exp-dir", required=True, help="experiment directory")
    add("--init", default=None, help="stage 3: the stage-2 student (exp/<name>_student/final.pt); stage 7: "
                                     "the stage-3 model (exp/<name>/final.pt)")
    add("--force-new", action="store_true", help="start over although <exp-dir> holds another configuration")
    return parser


def run(args) -> int:
    from ssrfnet.config import option_sources
    from ssrfnet.train.loop import train
    from ssrfnet.train.runconfig import RunConfig, RunPaths, check_training_options

    check_training_options(args.mode, args.model_type, option_sources(args), args.init)
    cfg = RunConfig(args.mode, config_dict(args, add_model_options), config_dict(args, add_train_options),
                    config_dict(args, add_eval_options, cli.add_recipe_options))
    paths = RunPaths(args.train_data, args.dev_data, args.dev_trials, args.exp_dir, args.musan_dir,
                     args.rirs_dir, args.init)
    train(cfg, paths, force_new=args.force_new, device=args.device,
          command=" ".join(["python -m ssrfnet.bin.train", *sys.argv[1:]]))
    return 0


main = cli.main_of("train", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
