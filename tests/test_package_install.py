"""`pip install` of the package into a fresh virtual environment, then its console scripts and its API
from outside the repository.

The new environment sees the project's installed dependencies (this interpreter's site-packages, added
with site.addsitedir from a .pth file) and pip runs with --no-index --no-build-isolation: nothing can be
downloaded, so the install succeeds only if every declared dependency range is met by what is installed
(torch 2.11.0 and the rest of requirements.txt) and pip installs the package alone.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from ssrfnet.audio import write_wav
from ssrfnet.models import build_model, save_model

from helpers import REPO, TINY_REDIMNET


def run(cmd, cwd, env=None, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def clean_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    source = root / "src"  # a copy, so that the build leaves nothing (build/, *.egg-info) in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "ssrfnet", source / "ssrfnet", ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = str(venv / "bin" / "python")
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=root).stdout.strip())
    deps = sysconfig.get_paths()["purelib"]
    (site / "_project_deps.pth").write_text(f"import site; site.addsitedir({deps!r})\n")
    proc = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                "--no-build-isolation", "--disable-pip-version-check", str(source)], cwd=root)
    installed_line = [line for line in proc.stdout.splitlines() if line.startswith("Successfully installed")]
    assert installed_line == ["Successfully installed ssrfnet-0.1.0"], proc.stdout  # nothing else installed
    return venv


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("outside")
    torch.manual_seed(0)
    save_model(build_model(TINY_REDIMNET).eval(), TINY_REDIMNET, root / "model.pt")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_wav(root / f"{name}.wav", 0.1 * rng.standard_normal(24000).astype(np.float32))
    return root


def test_console_scripts_and_api_from_outside_the_repository(installed, small_model):
    env = clean_env(installed)
    scripts = sorted(p.name for p in (installed / "bin").glob("ssrfnet-*"))
    assert {"ssrfnet-verify", "ssrfnet-embed", "ssrfnet-evaluate", "ssrfnet-export", "ssrfnet-model-info",
            "ssrfnet-score", "ssrfnet-train"} <= set(scripts)
    verify = str(installed / "bin" / "ssrfnet-verify")
    out = run([verify, "--model", "model.pt", "--threshold", "0.5", "--json", "a.wav", "b.wav"],
              cwd=small_model, env=env).stdout
    verdict = json.loads(out)
    assert set(verdict) >= {"score", "threshold", "same_speaker"} and -1 <= verdict["score"] <= 1
    api = ("import json, ssrfnet; m = ssrfnet.load_model('model.pt'); "
           "print(json.dumps({'file': ssrfnet.__file__, 'dim': int(m.embed('a.wav').shape[0]), "
           "'score': m.similarity('a.wav', 'b.wav'), "
           "'verify': m.verify('a.wav', 'b.wav', threshold=0.5).score}))")
    result = json.loads(run([str(installed / "bin" / "python"), "-c", api], cwd=small_model, env=env).stdout)
    assert Path(result["file"]).is_relative_to(installed) and not Path(result["file"]).is_relative_to(REPO)
    assert result["dim"] == 192 and result["score"] == pytest.approx(result["verify"], abs=1e-6)
    bad = subprocess.run([verify, "--model", "missing.pt", "--threshold", "0", "a.wav", "b.wav"],
                         cwd=small_model, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "verify: error:" in bad.stderr and "Traceback" not in bad.stderr
