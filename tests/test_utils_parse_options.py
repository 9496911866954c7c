"""Tests for utils/parse_options.sh (sourced by a small bash script)."""

import subprocess

from helpers import REPO

SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
foo_bar=default
use_gpu=false
cmd=run.pl
help_message="Usage: demo.sh [options] <data-dir>
e.g.: demo.sh data/train"
. {po}
echo "stage=$stage"
echo "stop_stage=$stop_stage"
echo "foo_bar=$foo_bar"
echo "use_gpu=$use_gpu"
echo "cmd=$cmd"
echo "nargs=$#"
for a in "$@"; do echo "arg=$a"; done
"""


def run(tmp_path, *args):
    script = tmp_path / "demo.sh"
    script.write_text(SCRIPT.replace("{po}", str(REPO / "utils" / "parse_options.sh")))
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, cwd=tmp_path)


def values(res):
    assert res.returncode == 0, res.stderr
    out = {}
    args = []
    for line in res.stdout.splitlines():
        k, v = line.split("=", 1)
        if k == "arg":
            args.append(v)
        else:
            out[k] = v
    out["args"] = args
    return out


def test_defaults_and_positional(tmp_path):
    v = values(run(tmp_path, "data/train", "exp/x"))
    assert v["stage"] == "0" and v["stop_stage"] == "100"
    assert v["args"] == ["data/train", "exp/x"]


def test_set_values_and_dash_to_underscore(tmp_path):
    v = values(run(tmp_path, "--stage", "3", "--foo-bar", "a b", "pos1", "--not-an-option"))
    assert v["stage"] == "3"
    assert v["foo_bar"] == "a b"
    assert v["args"] == ["pos1", "--not-an-option"]


def test_both_stop_stage_spellings(tmp_path):
    assert values(run(tmp_path, "--stop-stage", "5"))["stop_stage"] == "5"
    assert values(run(tmp_path, "--stop_stage", "6"))["stop_stage"] == "6"


def test_unknown_option_fails(tmp_path):
    res = run(tmp_path, "--no-such-thing", "1")
    assert res.returncode != 0
    assert "invalid option --no-such-thing" in res.stderr
    assert "stage=" not in res.stdout


def test_equals_form_rejected(tmp_path):
    res = run(tmp_path, "--stage=3")
    assert res.returncode != 0
    assert "--stage=3" in res.stderr


def test_missing_value(tmp_path):
    res = run(tmp_path, "--stage")
    assert res.returncode != 0
    assert "needs a value" in res.stderr


def test_boolean(tmp_path):
    assert values(run(tmp_path, "--use-gpu", "true"))["use_gpu"] == "true"
    res = run(tmp_path, "--use-gpu", "yes")
    assert res.returncode != 0
    assert "true" in res.stderr and "false" in res.stderr


def test_help(tmp_path):
    for flag in ("--help", "-h"):
        res = run(tmp_path, "--stage", "2", flag)
        assert res.returncode == 0
        assert "Usage: demo.sh" in res.stdout
        assert "e.g.:" in res.stdout
        assert "stage=" not in res.stdout


def test_config_file_command_line_wins(tmp_path):
    conf = tmp_path / "my.conf"
    conf.write_text("stage=9\nfoo_bar=from_conf\n")
    v = values(run(tmp_path, "--stage", "2", "--config", str(conf), "x"))
    assert v["stage"] == "2"
    assert v["foo_bar"] == "from_conf"
    assert v["args"] == ["x"]


def test_config_missing_file(tmp_path):
    res = run(tmp_path, "--config", "nope.conf")
    assert res.returncode != 0
    assert "nope.conf" in res.stderr


def test_empty_cmd_rejected(tmp_path):
    res = run(tmp_path, "--cmd", "")
    assert res.returncode != 0
    assert "--cmd" in res.stderr
    assert values(run(tmp_path, "--cmd", "queue.pl --mem 4G"))["cmd"] == "queue.pl --mem 4G"


def test_double_dash_ends_options(tmp_path):
    v = values(run(tmp_path, "--stage", "1", "--", "--stage", "2"))
    assert v["stage"] == "1"
    assert v["args"] == ["--stage", "2"]
