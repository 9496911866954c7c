"""Stage 5: cosine / crop-mean scoring, optional AS-norm, EER + minDCF, DET plots and result tables.

e.g.: python -m ssrfnet.bin.score --conf exp/ssrfnet/config.conf --exp-dir exp/ssrfnet \\
        --emb-dir exp/ssrfnet/embeddings/vox1 --trials data/vox1/trials/vox1_O_cleaned.kaldi \\
        --asnorm true --cohort-emb exp/ssrfnet/embeddings/vox2_train --cohort-data data/vox2_train \\
        --dev-trials data/vox2_heldout/trials/heldout.kaldi --dev-emb exp/ssrfnet/embeddings/vox2_heldout \\
        --cal-emb exp/ssrfnet/embeddings/vox2_cal --cal-data data/vox2_cal --eval-data data/vox1 \\
        --sanity-results exp/mfcc_stats/results.json

With --cal-emb/--cal-data (calibration trials of held-out training speakers, local/make_calibration_set.sh)
every system also gets affine and QMF calibrated twins (LLRs, with Cllr and actual DCF); QMF reads the test
utterances' durations from the utt2dur of every --eval-data directory (all test sets when stage 5 scores
one combined embedding table). --sanity-results adds the no-training MFCC baseline's EER beside this
model's in results.md.
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.config import str2bool
from ssrfnet.scoring.options import add_eval_options


def build_parser():
    parser = cli.new_parser("score", __doc__, add_eval_options, runtime=False)
    add = parser.add_argument
    add("--exp-dir", required=True, help="experiment dir (gets scores/, results.md)")
    add("--emb-dir", required=True, help="test-set embeddings (xvector.scp, crops.scp)")
    add("--trials", required=True, nargs="+", help="Kaldi trial lists")
    add("--asnorm", type=str2bool, default=False, help="also report AS-norm scores")
    add("--cohort-emb", default=None, help="embeddings of the cohort (training) set")
    add("--cohort-data", default=None, help="cohort data directory (its utt2spk)")
    add("--dev-trials", default=None, help="development trials for the verify threshold")
    add("--dev-emb", default=None, help="embeddings of the development trials' utterances")
    add("--model", default=None, help="model for the params/MACs (default EXP/final.pt)")
    add("--det", type=str2bool, default=True, help="write DET plots")
    add("--cal-emb", default=None, help="embeddings of the calibration segments (e.g. embeddings/vox2_cal)")
    add("--cal-data", default=None, help="calibration data dir: utt2dur and trials/calibration.kaldi")
    add("--eval-data", nargs="+", default=None,
        help="test data dir(s) whose utt2dur give the test utterances' durations (QMF)")
    add("--sanity-results", default=None,
        help="results.json of the no-training sanity baseline (exp/mfcc_stats), compared in results.md")
    return parser


def calibration_setup(args):
    """The CalibrationSetup of --cal-emb/--cal-data/--eval-data, or None without calibration trials."""
    from pathlib import Path

    from ssrfnet.errors import ConfError
    from ssrfnet.scoring.calibrated import CalibrationSetup

    if not args.cal_emb and not args.cal_data:
        return None
    if not (args.cal_emb and args.cal_data):
        raise ConfError("--cal-emb and --cal-data go together (the calibration embeddings and data dir)")
    durations = [str(Path(d) / "utt2dur") for d in args.eval_data or []]
    return CalibrationSetup(args.cal_emb, args.cal_data, durations or None, args.calibration_prior,
                            tuple(args.calibration_kinds), tuple(args.qmf_features))


def run(args) -> int:
    from ssrfnet.scoring.pipeline import score_experiment
    from ssrfnet.scoring.report import results_markdown

    results = score_experiment(
        args.exp_dir, args.emb_dir, args.trials, protocol=args.eval_protocol,
        subtract_mean=args.eval_subtract_mean, asnorm=args.asnorm, top_n=args.asnorm_top_n,
        cohort_emb=args.cohort_emb, cohort_data=args.cohort_data, dev_trials=args.dev_trials,
        dev_emb=args.dev_emb, p_targets=args.p_targets, model_path=args.model, det=args.det,
        calibration=calibration_setup(args), sanity_results=args.sanity_results)
    print(results_markdown(results))
    return 0


main = cli.main_of("score", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
