"""The official two-phase LR schedule at its key steps."""

from __future__ import annotations

import argparse

import pytest

from ssrfnet.train.options import add_train_options
from ssrfnet.train.schedule import LRSchedule

from helpers import CONF_DIR


def official():
    ns = add_train_options(argparse.ArgumentParser()).parse_args([])
    return LRSchedule.from_options(vars(ns))


def test_official_defaults_at_key_steps():
    s = official()
    assert s.max_steps == 304000 and s.switch == 32000
    assert s(0) == pytest.approx(1e-4)
    assert s(1000) == pytest.approx(5.5e-4)
    assert s(2000) == pytest.approx(1e-3)
    assert s(17000) == pytest.approx((1e-3 + 1e-4) / 2)
    assert s(31999) == pytest.approx(1e-4, rel=1e-3)
    assert s.phase(31999) == "adamw" and s.phase(32000) == "sgd"
    assert s(32000) == pytest.approx(1e-4)
    assert s(33000) == pytest.approx((1e-4 + 0.1) / 2)
    assert s(34000) == pytest.approx(0.1)
    assert s(169000) == pytest.approx((0.1 + 1e-4) / 2)
    assert s(304000) == pytest.approx(1e-4)


def test_monotone_pieces():
    s = official()
    warm = [s(i) for i in range(0, 2001, 100)]
    assert warm == sorted(warm)
    cos = [s(i) for i in range(2000, 32000, 500)]
    assert cos == sorted(cos, reverse=True)
    cos2 = [s(i) for i in range(34000, 304001, 5000)]
    assert cos2 == sorted(cos2, reverse=True)


def test_no_switch():
    s = LRSchedule(max_steps=100, warmup_steps=10, sgd_switch_step=0)
    assert s.switch == 100 and s.phase(99) == "adamw"
    assert s(100) == pytest.approx(1e-4)
    assert s(10) == pytest.approx(1e-3)


def test_conf_training_blocks_parse():
    """Both recipe confs hold only known keys; the full one carries the official schedule."""

    from ssrfnet.cli import all_option_names
    from ssrfnet.config import parse_args

    conf_dir = CONF_DIR
    for name in ("ssrfnet.conf", "ssrfnet_mini.conf"):
        parser = add_train_options(argparse.ArgumentParser())
        ns = parse_args(parser, ["--conf", str(conf_dir / name)], other_keys=all_option_names())
        assert ns.batch_size > 0 and ns.max_steps > 0
    ns = parse_args(add_train_options(argparse.ArgumentParser()), ["--conf", str(conf_dir / "ssrfnet.conf")],
                    other_keys=all_option_names())
    s = LRSchedule.from_options(vars(ns))
    assert (s.max_steps, s.switch, ns.batch_size, ns.kd_weight) == (304000, 32000, 128, 1.0)
    assert ns.teacher == "microsoft/wavlm-large" and ns.teacher_layers == [8, 16, 24]


def test_the_rehearsal_conf_has_the_official_model_and_crosses_every_phase():

    from ssrfnet.cli import all_option_names
    from ssrfnet.config import config_dict, parse_args
    from ssrfnet.models.options import add_model_options

    conf_dir = CONF_DIR

    def parsed(name):
        parser = add_train_options(add_model_options(argparse.ArgumentParser()))
        return parse_args(parser, ["--conf", str(conf_dir / name)], other_keys=all_option_names())

    full, rehearsal = parsed("ssrfnet.conf"), parsed("ssrfnet_rehearsal.conf")
    assert config_dict(full, add_model_options) == config_dict(rehearsal, add_model_options)
    s = LRSchedule.from_options(vars(rehearsal))
    phases = [s.phase(step) for step in range(s.max_steps)]
    assert phases.index("sgd") == rehearsal.sgd_switch_step > rehearsal.warmup_steps > 0
    assert s(0) < s(rehearsal.warmup_steps)  # AdamW warm-up
    switch = rehearsal.sgd_switch_step
    assert s(switch) < s(switch + rehearsal.sgd_warmup_steps)  # SGD warm-up after the switch
    saves = range(rehearsal.save_every, s.max_steps + 1, rehearsal.save_every)
    assert len(saves) > rehearsal.keep_checkpoints >= rehearsal.num_avg > 1  # rotation and averaging
    assert 0 < rehearsal.valid_every < s.max_steps
