"""The full-size path, rehearsed on the tiny corpus: the official model (75,164,380 parameters) and a random
WavLM Large teacher through stages 0-6 of run.sh with conf/ssrfnet_rehearsal.conf (every phase of the
schedule), resuming across the AdamW -> SGD switch after a SIGKILL, DDP over two processes against one, two
"nodes" of one machine, and the bad inputs of a distributed run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import CONF_DIR, RECIPE, REPO, make_data_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs the Debian TTS packages"),
]
REHEARSAL = ("--conf", "conf/ssrfnet_rehearsal.conf", "--mini-size", "tiny", "--corpora", "corpora_tiny",
             "--data", "data_tiny", "--exp", "exp_rehearsal")
FULL_SIZE = 75_164_380


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(cwd: Path, cmd: list[str], timeout: int = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n"
                             f"{proc.stderr[-5000:]}")
    return proc


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> Path:
    """A scratch copy of egs/voxceleb where the rehearsal command ran, exactly as users type it."""
    recipe = tmp_path_factory.mktemp("rehearsal") / "voxceleb"
    recipe.mkdir()
    for name in ("run.sh", "utils", "steps", "local", "path.sh", "cmd.sh"):
        (recipe / name).symlink_to((RECIPE / name).resolve())
    shutil.copytree(RECIPE / "conf", recipe / "conf")
    proc = _run(recipe, ["./run.sh", *REHEARSAL])
    (recipe / "run.out").write_text(proc.stdout + proc.stderr)
    return recipe


def test_rehearsal_ran_every_stage_at_full_size(rehearsal: Path):
    exp = rehearsal / "exp_rehearsal" / "ssrfnet"
    final = torch.load(exp / "final.pt", weights_only=True)
    assert sum(t.numel() for t in final["state_dict"].values() if t.is_floating_point()) >= FULL_SIZE
    from ssrfnet.models import count_parameters, load_model

    assert count_parameters(load_model(exp / "final.pt"))["total"] == FULL_SIZE
    teacher = json.loads((rehearsal / "exp_rehearsal/teacher_wavlm_large_random/config.json").read_text())
    assert (teacher["num_hidden_layers"], teacher["hidden_size"], teacher["num_attention_heads"],
            teacher["intermediate_size"], teacher["feat_extract_norm"], teacher["conv_bias"],
            teacher["do_stable_layer_norm"]) == (24, 1024, 16, 4096, "layer", True, True)
    log = (exp / "train.log").read_text()
    assert "switching optimizer to sgd" in log and "validation EER" in log
    assert "average of 2 checkpoint(s), steps 6-8" in log
    kept = sorted(p.name for p in (exp / "checkpoints").glob("step_*.pt"))
    assert kept == ["step_00000006.pt", "step_00000008.pt"]  # rotation: 2 of the 4 written are kept
    report = json.loads((exp / "export" / "export.json").read_text())
    assert max(report["parity"].values()) <= report["tolerance"]
    results = json.loads((exp / "results.json").read_text())
    assert "vox1_O_cleaned" in results["lists"]
    out = (rehearsal / "run.out").read_text()
    for stage in ("steps/train.sh", "steps/extract_embeddings.sh", "steps/score.sh", "steps/export.sh"):
        assert f"{stage}" in out and "peak resident memory" in out


def test_ten_crop_extraction_with_the_full_model(rehearsal: Path, monkeypatch):
    import kaldiio

    monkeypatch.chdir(rehearsal)
    crops = dict(kaldiio.load_scp("exp_rehearsal/ssrfnet/embeddings/vox1/crops.scp"))
    assert crops and all(matrix.shape == (10, 192) for matrix in crops.values())


def _train_command(rehearsal: Path, exp: str) -> list[str]:
    return ["steps/train.sh", "--mode", "ssrfnet", "--conf", "conf/ssrfnet_rehearsal.conf",
            "--init", "exp_rehearsal/ssrfnet_student/final.pt", "--augment-dir", "data_tiny",
            "data_tiny/vox2_train", "data_tiny/vox2_heldout", exp]


def test_sigkill_after_the_sgd_switch_then_resume_is_bit_identical(rehearsal: Path):
    """Stage 3 again in another exp dir, killed (SIGKILL, whole process group) once step 6 (SGD phase) is
    checkpointed, re-run: it must end exactly where the uninterrupted rehearsal ended."""
    exp = rehearsal / "exp_killed"
    proc = subprocess.Popen(_train_command(rehearsal, "exp_killed"), cwd=rehearsal, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    latest = exp / "checkpoints" / "latest"
    deadline = time.time() + 900
    while not (latest.is_file() and latest.read_text().strip() == "step_00000006.pt"):
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (exp / "final.pt").exists()
    _run(rehearsal, _train_command(rehearsal, "exp_killed"))
    assert "resuming from" in (exp / "train.log").read_text()
    ref = rehearsal / "exp_rehearsal" / "ssrfnet"
    a = torch.load(ref / "checkpoints/step_00000008.pt", weights_only=True)
    b = torch.load(exp / "checkpoints/step_00000008.pt", weights_only=True)
    assert a["optimizer_name"] == b["optimizer_name"] == "sgd"
    for part in ("model", "kd", "aam"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    for key, state in a["optimizer"]["state"].items():
        assert all(torch.equal(v, b["optimizer"]["state"][key][n]) for n, v in state.items())
    assert (a["epoch"], a["batch"]) == (b["epoch"], b["batch"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    fa = torch.load(ref / "final.pt", weights_only=True)["state_dict"]
    fb = torch.load(exp / "final.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(fa[k], fb[k]) for k in fa)


def test_two_nodes_on_one_machine_train_and_checkpoint(rehearsal: Path):
    """Two invocations of stage 3 (--nnodes 2, --node-rank 0 and 1, one rendezvous endpoint), as on a
    cluster: rank 0 of node 0 writes the checkpoint and final.pt of the 2-process run."""
    (rehearsal / "conf" / "two_nodes.conf").write_text(
        (rehearsal / "conf" / "ssrfnet_rehearsal.conf").read_text()
        + "--batch-size=4\n--max-steps=2\n--save-every=2\n--valid-every=0\n--num-avg=1\n")
    port = 29000 + os.getpid() % 1000
    common = ["steps/train.sh", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id",
              "two", "--rdzv-timeout", "300", "--mode", "ssrfnet", "--conf", "conf/two_nodes.conf", "--init",
              "exp_rehearsal/ssrfnet_student/final.pt", "--augment-dir", "data_tiny", "data_tiny/vox2_train",
              "data_tiny/vox2_heldout", "exp_2node"]  # one exp dir, as on a shared file system
    nodes = [subprocess.Popen([*common[:1], "--node-rank", str(r), *common[1:]], cwd=rehearsal, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    outputs = [node.communicate(timeout=1200)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    exp = rehearsal / "exp_2node"
    assert (exp / "log/train.node0.log").is_file() and (exp / "log/train.node1.log").is_file()
    assert "2 rank(s) x 2 per batch" in (exp / "train.log").read_text()
    ckpt = torch.load(exp / "checkpoints" / "step_00000002.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and (exp / "final.pt").is_file()


def _step1(exp: Path, data: Path, nproc: int) -> dict:
    env = dict(_env(), PYTHONPATH=f"{REPO}:{REPO / 'tests'}", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    runner = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    cmd = [*(runner if nproc > 1 else [sys.executable]), "-m", "full_model_training", "--data", str(data),
           "--exp-dir", str(exp), "--batch-size", "4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return torch.load(exp / "step1_grads.pt", weights_only=True)


def test_ddp_two_processes_equal_one_at_full_size(tmp_path):
    """The full model, global batch 4: 2 gloo processes x 2 crops give the loss and the (averaged) gradients
    of 1 process x 4 crops, to float32 summation order (tolerance 1e-4 of each tensor's largest entry)."""
    data = make_data_dir(tmp_path, num_spk=2, per_spk=4, seconds=(3.1, 4.0))
    one = _step1(tmp_path / "one", data, 1)
    two = _step1(tmp_path / "two", data, 2)
    assert len(one["losses"]) == len(two["losses"]) == 2
    for a, b in zip(one["losses"], two["losses"]):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (one["losses"], two["losses"])
    assert one["grads"].keys() == two["grads"].keys() and len(one["grads"]) > 300
    floor = 1e-3 * max(g.abs().max().item() for g in one["grads"].values())
    for name, g in one["grads"].items():
        scale = max(g.abs().max().item(), floor)
        assert (two["grads"][name] - g).abs().max().item() <= 1e-4 * scale, name


def test_distributed_bad_inputs_fail_clearly(tmp_path):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(3.1, 3.4))
    base = ["steps/train.sh", "--mode", "ssrfnet", "--conf", str(CONF_DIR / "ssrfnet_rehearsal.conf"),
            "--augment-dir", str(tmp_path), str(data), str(data)]
    out = subprocess.run([*base[:1], "--nnodes", "2", "--node-rank", "2", *base[1:], str(tmp_path / "e1")],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--node-rank 2 is out of range for --nnodes 2" in out.stderr
    started = time.time()
    out = subprocess.run([*base[:1], "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint",
                          "127.0.0.1:9", "--rdzv-timeout", "10", *base[1:], str(tmp_path / "e2")],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "no rendezvous of 2 node(s) at 127.0.0.1:9" in out.stderr
    assert time.time() - started < 120


@pytest.mark.parametrize(("batch", "message"), [("3", "--batch-size 3 is not divisible by 2 ranks"),
                                                ("2", "leaves one crop per rank")])
def test_a_batch_that_does_not_split_over_the_ranks(tmp_path, batch, message):
    from toy_training import make_corpus, toy_args

    make_corpus(tmp_path)
    env = dict(_env(), PYTHONPATH=f"{REPO}:{REPO / 'tests'}", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "toy_training", *toy_args(tmp_path, tmp_path / "exp"), "--batch-size", batch]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and message in out.stdout + out.stderr
