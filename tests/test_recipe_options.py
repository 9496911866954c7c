"""What run.sh decides from its conf, and the option checks behind it: the experiment name (--name,
else the conf's --exp-name), stage 2 skipped for a model without a student, stage 7's paths, and the
one-line errors for options a model or stage would ignore (a teacher / KD option in a student-free conf,
--init, model keys of another type) that never trip on stage 3's effective config.conf, which lists every
default."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from helpers import CONF_DIR, RECIPE

needs_recipe_env = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                      reason="run.sh needs the Debian packages (utils/setup_env.sh)")


def one_error_line(capsys, tool: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{tool}: error: "), err
    return err[0]


# -- where options were set ----------------------------------------------------------------------------------
def test_option_sources_name_the_conf_line_and_the_command_line(tmp_path):
    from ssrfnet.cli import new_parser
    from ssrfnet.config import chosen_options, option_sources, parse_args, write_conf
    from ssrfnet.train.options import add_train_options

    conf = tmp_path / "a.conf"
    conf.write_text("# x\n--max-steps=5\n--kd-weight=0.5\n")
    effective = tmp_path / "config.conf"
    write_conf(effective, {"teacher": "t", "seed": 3},
               header="Effective configuration of exp/x (mode ssrfnet)")
    args = parse_args(new_parser("t", "", add_train_options),
                      ["--conf", str(effective), "--conf", str(conf), "--kd-weight", "0.7", "--max-nan=4"])
    sources = option_sources(args)
    assert str(sources["max_steps"]) == f"{conf}:2"
    assert str(sources["kd_weight"]) == "the command line" and args.kd_weight == 0.7
    assert str(sources["max_nan_steps"]) == "the command line"
    assert str(sources["teacher"]) == f"{effective}:2"
    assert "lr_max" not in sources  # left at its default
    assert set(chosen_options(sources)) == {"max_steps", "kd_weight", "max_nan_steps"}  # not config.conf's


# -- the training checks (ssrfnet.bin.train: one line, exit 1, before anything is built) ---------------------
@pytest.mark.parametrize("extra, where, what", [
    (["--kd-weight=0.5"], "the command line", "--kd-weight does not apply to --model-type=redimnet"),
    (["--init", "x.pt"], "the command line", "--init x.pt does not apply to --model-type=redimnet"),
    (["--svmixer-layers=3"], "the command line", "--svmixer-layers does not apply to --model-type=redimnet"),
])
def test_student_free_model_refuses_student_options(tmp_path, capsys, extra, where, what):
    from ssrfnet.bin.train import main

    argv = ["--mode", "ssrfnet", "--conf", str(CONF_DIR / "redimnet_b2_mini.conf"), "--train-data",
            str(tmp_path / "nowhere"), "--exp-dir", str(tmp_path / "exp"), *extra]
    assert main(argv) == 1
    line = one_error_line(capsys, "train")
    assert f"{where}: {what}" in line and "remove it" in line
    assert not (tmp_path / "exp").exists()


def test_the_error_names_the_conf_file_and_line(tmp_path, capsys):
    from ssrfnet.bin.train import main

    conf = tmp_path / "baseline.conf"
    conf.write_text((CONF_DIR / "ssrfnet_nofusion_mini.conf").read_text() + "--teacher-layers=1,2\n")
    lineno = len(conf.read_text().splitlines())
    assert main(["--mode", "ssrfnet", "--conf", str(conf), "--train-data", "x", "--exp-dir", "y"]) == 1
    assert (f"{conf}:{lineno}: --teacher-layers does not apply to --model-type=ssrfnet_nofusion (it has no "
            "student, so no teacher, KD or stage 2)") in one_error_line(capsys, "train")
    assert main(["--mode", "distill", "--conf", str(CONF_DIR / "redimnet_b2_mini.conf"), "--train-data", "x",
                 "--exp-dir", "y"]) == 1
    assert "has no student: stage 2 (--mode distill) does not apply" in one_error_line(capsys, "train")


def test_effective_config_does_not_trip_the_checks(tmp_path):
    """Stage 3's config.conf of a student-free model holds every default (a teacher among them); stage 7
    layers it under the LMFT conf, and only the LMFT conf's own choices are checked."""
    from ssrfnet.cli import new_parser, option_groups
    from ssrfnet.config import config_dict, option_sources, parse_args
    from ssrfnet.errors import ConfError
    from ssrfnet.models.options import add_model_options
    from ssrfnet.scoring.options import add_eval_options
    from ssrfnet.train.options import add_train_options
    from ssrfnet.train.runconfig import RunConfig, check_training_options, write_effective_config

    def parse(*argv):
        return parse_args(new_parser("train", "", *option_groups()), list(argv))

    stage3 = parse("--conf", str(CONF_DIR / "redimnet_b2_mini.conf"))
    cfg = RunConfig("ssrfnet", config_dict(stage3, add_model_options), config_dict(stage3, add_train_options),
                    config_dict(stage3, add_eval_options))
    write_effective_config(tmp_path, cfg, "test")
    assert "--teacher=microsoft/wavlm-large" in (tmp_path / "config.conf").read_text()
    lm = parse("--conf", str(tmp_path / "config.conf"), "--conf", str(CONF_DIR / "lm_mini.conf"))
    check_training_options("lmft", lm.model_type, option_sources(lm), "exp/redimnet_b2/final.pt")
    stray = tmp_path / "lm.conf"
    stray.write_text("--lm-margin=0.4\n--kd-weight=1\n")
    lm = parse("--conf", str(tmp_path / "config.conf"), "--conf", str(stray))
    with pytest.raises(ConfError, match=f"{stray}:2: --kd-weight does not apply to --mode lmft"):
        check_training_options("lmft", lm.model_type, option_sources(lm), "x.pt")
    # a student model's own conf keeps its teacher options for stages 2-3
    ssrfnet = parse("--conf", str(CONF_DIR / "ssrfnet_mini.conf"))
    check_training_options("ssrfnet", ssrfnet.model_type, option_sources(ssrfnet), "student.pt")


def test_conf_value_prints_what_run_sh_needs(capsys):
    from ssrfnet.bin import conf_value

    for name, expected in [("redimnet_b2_mini.conf", "redimnet_b2 redimnet false"),
                           ("ssrfnet_mini.conf", "ssrfnet ssrfnet true"),
                           ("transformer_student_ecapa.conf",
                            "transformer_student_ecapa transformer_ecapa true")]:
        assert conf_value.main(["--conf", str(CONF_DIR / name), "exp-name", "model-type", "has-student"]) == 0
        assert capsys.readouterr().out.strip() == expected
    assert conf_value.main(["--conf", str(CONF_DIR / "ssrfnet_rehearsal.conf"), "eval-sets"]) == 0
    assert capsys.readouterr().out.strip() == "vox1"
    assert conf_value.main(["--conf", str(CONF_DIR / "ssrfnet.conf"), "no-such"]) == 1
    assert "no-such: no such option" in one_error_line(capsys, "conf_value")


def test_eval_sets_takes_all_or_known_names(tmp_path, capsys):
    from ssrfnet.bin import conf_value

    conf = tmp_path / "a.conf"
    conf.write_text("--eval-sets= voxsrc23 ,sitw\n")
    assert conf_value.main(["--conf", str(conf), "eval-sets"]) == 0
    assert capsys.readouterr().out.strip() == "voxsrc23,sitw"
    conf.write_text("--eval-sets=voxsrc,sitw\n")
    assert conf_value.main(["--conf", str(conf), "eval-sets"]) != 0
    assert "'voxsrc,sitw': give all or names from vox1, voxsrc23, vcmix, voices, cnceleb, sitw" \
        in capsys.readouterr().err


# -- run.sh -------------------------------------------------------------------------------------------------
@pytest.fixture
def recipe(tmp_path):
    """A scratch copy of egs/voxceleb: links to the scripts, its own conf/ and exp/."""
    recipe = tmp_path / "voxceleb"
    recipe.mkdir()
    for name in ("run.sh", "utils", "steps", "local", "path.sh", "cmd.sh"):
        (recipe / name).symlink_to((RECIPE / name).resolve())
    shutil.copytree(RECIPE / "conf", recipe / "conf")
    return recipe


def run_sh(recipe, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=300)


@needs_recipe_env
def test_run_sh_skips_stage_2_for_a_model_without_a_student(recipe):
    res = run_sh(recipe, "--stage", "2", "--stop-stage", "2", "--conf", "conf/redimnet_b2_mini.conf")
    assert res.returncode == 0, res.stderr
    assert ("stage 2: skipped: --model-type=redimnet has no student to distil (stage 3 trains it with AAM "
            "alone)") in res.stdout
    assert not (recipe / "exp").exists()


@needs_recipe_env
def test_run_sh_experiment_name_from_the_conf_or_the_command_line(recipe):
    res = run_sh(recipe, "--stage", "7", "--stop-stage", "7", "--conf", "conf/redimnet_b2_mini.conf")
    assert res.returncode == 1
    assert "stage 7: large-margin fine-tuning of exp/redimnet_b2 (conf/lm_mini.conf) -> exp/redimnet_b2_lm" \
        in res.stdout
    assert "stage 7 fine-tunes exp/redimnet_b2/final.pt: run stages 0-6 first" in res.stderr
    res = run_sh(recipe, "--stage", "7", "--stop-stage", "7", "--conf", "conf/redimnet_b2_mini.conf",
                 "--name", "b2_try")
    assert "exp/b2_try/final.pt: run stages 0-6 first" in res.stderr
    res = run_sh(recipe, "--stage", "7", "--stop-stage", "7")  # the default mini conf: exp/ssrfnet
    assert "exp/ssrfnet/final.pt: run stages 0-6 first" in res.stderr


@needs_recipe_env
def test_run_sh_refuses_a_baseline_conf_with_a_teacher_option_at_once(recipe):
    conf = recipe / "conf" / "redimnet_b2_mini.conf"
    conf.write_text(conf.read_text() + "--teacher=microsoft/wavlm-large\n")
    lineno = len(conf.read_text().splitlines())
    res = run_sh(recipe, "--stage", "2", "--stop-stage", "3", "--conf", "conf/redimnet_b2_mini.conf")
    assert res.returncode == 1 and "stage 2" not in res.stdout
    assert (f"conf_value: error: conf/redimnet_b2_mini.conf:{lineno}: --teacher does not apply to "
            "--model-type=redimnet") in res.stderr
