"""Options of stages 2-3 and 7 (distillation, OS-KDFT / speaker training, large-margin fine-tuning).

Defaults are the official values (github dayflys/SSRFNet): global batch 128, AdamW (wd 2e-5) 1e-4 -> 1e-3
over 2k steps, cosine to 1e-4 at 32k, then Nesterov SGD 1e-4 -> 0.1 over 2k steps and cosine to 1e-4 at
304k, gradient clipping at 10, loss = AAM (m 0.2, s 30, top-5 margin 0.1) + 1.0 * KD, six augmentation
types at p=0.8.
"""

from __future__ import annotations

import argparse

from ssrfnet.config import float_list, int_list, str2bool


def str_list(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in str(value).replace(" ", "").split(",") if v]


def _run_options(add) -> None:
    """The run: seed, batch, length, data loading, precision."""
    add("--seed", type=int, default=4221, help="seed of shuffling, crops, augmentation and initialisation")
    add("--batch-size", type=int, default=128,
        help="GLOBAL batch size, split evenly over the DDP ranks (official: 4 GPUs x 32 = 128)")
    add("--max-steps", type=int, default=304000, help="optimizer steps (batches) to train")
    add("--distill-max-steps", type=int, default=0,
        help="stage 2 (--mode distill) length in steps; 0 = --max-steps (the LR schedule ends there)")
    add("--num-workers", type=int, default=4, help="DataLoader worker processes per rank")
    add("--cache-audio", type=str2bool, default=False,
        help="keep decoded pipe (e.g. m4a) training audio in memory, per worker (small corpora only)")
    add("--shuffle", type=str2bool, default=True,
        help="reshuffle the training list every epoch (the official code never shuffles)")
    add("--bf16", type=str2bool, default=True, help="bf16 autocast on GPU (CPU always runs fp32)")
    add("--deterministic", type=str2bool, default=False,
        help="torch.use_deterministic_algorithms (bit-exact resume on GPU; slower)")


def _optimiser_options(add) -> None:
    """Optimisation: the AdamW phase, then the SGD phase."""
    add("--weight-decay", type=float, default=2e-5, help="weight decay of AdamW and SGD")
    add("--lr-init", type=float, default=1e-4, help="AdamW: LR at step 0 (warm-up start)")
    add("--lr-max", type=float, default=1e-3, help="AdamW: LR at the end of the warm-up")
    add("--warmup-steps", type=int, default=2000, help="AdamW: linear warm-up steps")
    add("--lr-min", type=float, default=1e-4, help="AdamW: LR reached by the cosine at --sgd-switch-step")
    add("--sgd-switch-step", type=int, default=32000,
        help="step at which AdamW is replaced by Nesterov SGD (its state dropped); 0 = AdamW to the end")
    add("--sgd-lr-init", type=float, default=1e-4, help="SGD: LR at the switch (warm-up start)")
    add("--sgd-lr-max", type=float, default=0.1, help="SGD: LR at the end of its warm-up")
    add("--sgd-warmup-steps", type=int, default=2000, help="SGD: linear warm-up steps after the switch")
    add("--sgd-lr-min", type=float, default=1e-4, help="SGD: LR reached by the cosine at --max-steps")
    add("--sgd-momentum", type=float, default=0.9, help="SGD momentum (Nesterov)")
    add("--grad-clip", type=float, default=10.0, help="gradient norm clipping (0 = off)")
    add("--max-nan-steps", type=int, default=20,
        help="abort after this many consecutive steps with a non-finite loss or gradient (each is skipped)")


def _loss_options(add) -> None:
    """Losses: AAM-softmax with top-K impostors, knowledge distillation."""
    add("--aam-margin", type=float, default=0.2, help="AAM-softmax additive angular margin")
    add("--aam-scale", type=float, default=30.0, help="AAM-softmax scale")
    add("--aam-topk", type=int, default=5, help="top-K hard impostors given an extra margin")
    add("--aam-topk-margin", type=float, default=0.1, help="margin of the top-K hard impostors")
    add("--aam-topk-mode", choices=["fixed", "official", "none"], default="fixed",
        help="top-K selection: fixed (target excluded), official (its bug reproduced), none")
    add("--aam-class-weights", type=str2bool, default=True,
        help="cross-entropy class weights N_total/N_class (official)")
    add("--kd-weight", type=float, default=1.0, help="stage 3: loss = AAM + kd_weight * KD (official 1)")
    add("--kd-cos-lambda", type=float, default=1.0, help="KD: weight of the cosine term")
    add("--kd-cos-reduction", choices=["sum", "mean"], default="sum",
        help="KD cosine term over frames: sum (official) or mean (DistilHuBERT)")


def _teacher_options(add) -> None:
    """The frozen WavLM teacher (and the random one of the mini recipe)."""
    add("--teacher", default="microsoft/wavlm-large", help="WavLM hub id or local directory")
    add("--teacher-layers", type=int_list, default=[8, 16, 24],
        help="teacher hidden states the KD heads predict")
    add("--teacher-bf16", type=str2bool, default=False, help="run the teacher in bf16 on GPU")
    add("--teacher-random-init", type=str2bool, default=False,
        help="create a random WavLM at --teacher if it does not exist (mini recipe and tests only)")
    add("--teacher-hidden-size", type=int, default=256, help="random teacher: hidden size")
    add("--teacher-num-layers", type=int, default=4, help="random teacher: transformer layers")
    add("--teacher-num-heads", type=int, default=4, help="random teacher: attention heads")
    add("--teacher-intermediate-size", type=int, default=1024, help="random teacher: FFN size")
    add("--teacher-conv-dim", type=int, default=0, help="random teacher: CNN channels (0 = WavLM's 512)")
    add("--teacher-random-config", default="",
        help="random teacher: a WavLM config.json giving its whole structure (e.g. conf/wavlm_large.json, "
             "the published WavLM Large configuration); the --teacher-* sizes are then not used")


def _stage_options(add) -> None:
    """What differs between stage 2 and stage 3."""
    add("--distill-augment", type=str2bool, default=True,
        help="stage 2: the student sees the augmented crop (teacher: clean), as OS-KDFT; false = clean")
    add("--init-student", type=str2bool, default=True,
        help="stage 3: initialise the student (and KD heads) from --init (stage 2 final.pt); "
             "false = from scratch like the official code")


def _augmentation_options(add) -> None:
    """On-the-fly augmentation of the student input."""
    add("--augment", type=str2bool, default=True, help="on-the-fly augmentation of the student input")
    add("--aug-prob", type=float, default=0.8, help="probability that a crop gets one augmentation")
    add("--aug-types", type=str_list, default=["reverb", "babble", "music", "noise", "colored", "clip"],
        help="augmentation types to draw from")
    add("--aug-weights", type=float_list, default=[1, 1, 1, 1, 1, 1],
        help="relative weight of each --aug-types entry (0 disables one)")
    add("--aug-snr-babble", type=float_list, default=[13, 20], help="babble SNR range (dB)")
    add("--aug-snr-music", type=float_list, default=[5, 15], help="music SNR range (dB)")
    add("--aug-snr-noise", type=float_list, default=[0, 15], help="noise SNR range (dB)")
    add("--aug-snr-colored", type=float_list, default=[5, 20], help="coloured-noise SNR range (dB)")
    add("--aug-babble-talkers", type=int_list, default=[4, 7], help="babble: min,max talkers averaged")
    add("--aug-colors", type=str_list, default=["white", "pink", "brown"], help="coloured-noise colours")
    add("--aug-clip-range", type=float_list, default=[0.3, 0.9], help="clipping level range (x max|x|)")
    add("--aug-skip-missing", type=str2bool, default=False,
        help="warn and disable a type whose data directory is missing/empty instead of failing")
    add("--speed-perturb", type=str, default="",
        help="speed perturbation with speaker expansion, e.g. 0.9,1.0,1.1: each item is played at one of the "
             "factors and each factor is a speaker of its own (sp0.9-<spk>); empty = off (official)")


def _lmft_options(add) -> None:
    """Stage 7, large-margin fine-tuning (--mode lmft) from the averaged stage-3 model."""
    add("--lm-margin", type=float, default=0.5,
        help="stage 7: AAM margin after the ramp (the stage-3 --aam-margin is where the ramp starts)")
    add("--lm-margin-ramp-steps", type=int, default=0,
        help="stage 7: the margin rises linearly from --aam-margin to --lm-margin over the first N steps "
             "(0 = --lm-margin from the start)")
    add("--lm-crop-seconds", type=float, default=6.0,
        help="stage 7: training crop length of a length-agnostic model (ReDimNet, no-fusion, Transformer "
             "student); a fixed-length model keeps its own (the faithful SV-Mixer: 3 s)")
    add("--lm-optimizer", choices=["sgd", "adamw"], default="sgd",
        help="stage 7: one optimizer phase (fresh state): linear warm-up --lr-init -> --lr-max over "
             "--warmup-steps, cosine to --lr-min at --max-steps (--sgd-switch-step, --sgd-lr-* do not apply)")


def _validation_options(add) -> None:
    """Validation, checkpoints, logging."""
    add("--valid-every", type=int, default=2000, help="development EER every N steps (0 = never)")
    add("--valid-num-crops", type=int, default=1,
        help="evenly spaced fixed-length crops per development utterance, embeddings averaged")
    add("--valid-batch-size", type=int, default=32, help="crops per forward pass during validation")
    add("--save-every", type=int, default=2000, help="write checkpoints/step_N.pt every N steps")
    add("--keep-checkpoints", type=int, default=5, help="training checkpoints kept (>= --num-avg)")
    add("--num-avg", type=int, default=5, help="final.pt = average of the last N checkpoints' weights")
    add("--log-every", type=int, default=100, help="train.log / TensorBoard line every N steps")


def add_train_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add = parser.add_argument_group("training (stages 2-3, 7)").add_argument
    _run_options(add)
    _optimiser_options(add)
    _loss_options(add)
    _teacher_options(add)
    _stage_options(add)
    _augmentation_options(add)
    _lmft_options(add)
    _validation_options(add)
    return parser


# Options whose change makes a checkpoint from one run unusable for another (they shape the weights;
# the speed factors decide the speaker count and what each label means).
MODEL_SHAPING_TRAIN_KEYS = (
    "teacher", "teacher_layers", "teacher_hidden_size", "teacher_num_layers", "teacher_random_init",
    "teacher_random_config", "speed_perturb",
)
# Training options that only a model with a distillable student reads (the teacher, KD and stage 2): a
# student-free model type, or stage 7, must not be given them.
STUDENT_TRAIN_KEYS = (
    "kd_weight", "kd_cos_lambda", "kd_cos_reduction", "distill_max_steps", "distill_augment", "init_student",
    "teacher", "teacher_layers", "teacher_bf16", "teacher_random_init", "teacher_hidden_size",
    "teacher_num_layers", "teacher_num_heads", "teacher_intermediate_size", "teacher_conv_dim",
    "teacher_random_config",
)
