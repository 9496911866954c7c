"""Stage 0 at corpus scale: time and peak memory per 100 k utterances, per step, and the extrapolated wall
time of stage 0 on the real VoxCeleb1 + VoxCeleb2 dev at --nj 2 and --nj 64.

    python bench/bench_stage0_scale.py --scale 0.01 --work /tmp/stage0_bench           # a smoke run
    python bench/bench_stage0_scale.py --scale 0.02,0.1 --work /scratch/stage0_bench    # linearity + m4a
    python bench/bench_stage0_scale.py --scale 1 --vox2-format wav --work /scratch/stage0_bench  # real size

For each scale it builds (or reuses) the simulated tree (ssrfnet.corpus.scale: the real layout, hard links
to a few short real files), deletes any earlier data dir and converted wavs, runs stage 0 exactly as run.sh
does (`local/prepare_voxceleb.sh --nj N --m4a-mode convert ...` from egs/voxceleb, per-file work through
`$cmd JOB=1:N`, here run.pl), then runs it again (the no-op re-run). Times and per-process peak resident
memory per step come from the `timing:` lines the steps log (the job logs for the per-file work); the peak
of the whole process tree from getrusage(RUSAGE_CHILDREN) of a wrapper process.

Per-file decode cost: a hard-linked stand-in is short (about 1 s) while a real VoxCeleb2 m4a is 7.8 s on
average, so the bench times the batched conversion (32 files per ffmpeg, as the jobs run it) of one
stand-in and of one real-length m4a (--real-m4a, e.g. a file of the mini corpus; default: an 8 s
synthesised m4a) and scales the measured conversion time by that ratio.

Extrapolation (printed with the figures): serial steps (scan, plan, merge, validation) scale linearly with
the number of utterances (per-100k figures at two scales check it); the per-file work divides over the jobs,
each job on its own core, with the storage keeping up (1.09 M m4a reads and wav writes, about 280 GB of wav
at 7.8 s per file) and a per-job start-up cost as measured; real counts 153,516 + 1,092,009 utterances.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssrfnet.audio import write_wav  # noqa: E402
from ssrfnet.corpus.scale import VOX1_DEV, VOX1_TEST, VOX2_DEV, make_scale_corpus, speechlike  # noqa: E402
from ssrfnet.prep.audio_jobs import FFMPEG_BATCH, decode_many  # noqa: E402

REAL_VOX1 = VOX1_DEV["utterances"] + VOX1_TEST["utterances"]
REAL_VOX2 = VOX2_DEV["utterances"]
REAL_M4A_SECONDS = 7.8  # mean VoxCeleb2 utterance (2,442 h over 1,092,009 files)
TIMING = re.compile(r"timing: (?P<what>.+?): (?P<secs>[\d.]+) s, peak RSS (?P<rss>\d+) MiB")
SHELL = re.compile(r"prepare_voxceleb\.sh: (?P<what>.+?) took (?P<secs>[\d.]+) s")
JOB = re.compile(r"job \d+: (?P<kind>conversion|durations) of (?P<files>\d+) files")


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the whole process tree, stdout+stderr) of one command."""
    wrapper = ("import resource, subprocess, sys\n"
               "proc = subprocess.run(sys.argv[1:], stdout=sys.stdout, stderr=subprocess.STDOUT)\n"
               "print(f'#maxrss_kib {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')\n"
               "sys.exit(proc.returncode)\n")
    env = dict(os.environ, LC_ALL="C", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"stage 0 failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"#maxrss_kib (\d+)", proc.stdout).group(1)) / 1024
    return wall, rss, proc.stdout


def parse_steps(output: str, work: Path) -> dict:
    """Per step: seconds and the process's peak RSS; job steps summed over jobs (and their max)."""
    steps: dict[str, dict] = {}
    for match in TIMING.finditer(output):
        steps[match["what"]] = {"secs": float(match["secs"]), "rss": int(match["rss"])}
    for match in SHELL.finditer(output):
        steps["shell: " + match["what"]] = {"secs": float(match["secs"]), "rss": 0}
    jobs = {"conversion": [], "durations": []}
    for log in sorted((work / "log").glob("files.*.log")):
        text = log.read_text()
        for match in TIMING.finditer(text):
            kind = JOB.match(match["what"])
            if kind:
                jobs[kind["kind"]].append((float(match["secs"]), int(kind["files"]), int(match["rss"])))
    for kind, rows in jobs.items():
        if rows:
            steps[f"jobs: {kind}"] = {"secs": sum(r[0] for r in rows), "max_job": max(r[0] for r in rows),
                                      "files": sum(r[1] for r in rows), "rss": max(r[2] for r in rows)}
    return steps


def import_rss() -> float:
    """Peak RSS of a bare stage-0 process (python + imports): the part that does not grow with the corpus."""
    out = subprocess.run([sys.executable, "-c", "import resource, ssrfnet.prep.voxceleb; "
                          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                         cwd=REPO, capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    return int(out) / 1024


def batched_cost(m4a: Path, runs: int, scratch: Path) -> float:
    """Median seconds per file of converting FFMPEG_BATCH copies of `m4a` in one ffmpeg process."""
    times = []
    for run in range(runs + 1):
        outs = [str(scratch / f"{run}.{i}.wav") for i in range(FFMPEG_BATCH)]
        start = time.perf_counter()
        if not decode_many([str(m4a)] * FFMPEG_BATCH, outs):
            raise SystemExit(f"{m4a}: ffmpeg could not decode it")
        times.append((time.perf_counter() - start) / FFMPEG_BATCH)
        for out in outs:
            os.unlink(out)
    return statistics.median(times[1:])


def decode_costs(standin: Path, real: Path | None, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="stage0_bench.") as tmp:
        scratch = Path(tmp)
        if real is None:
            real = scratch / "real_length.m4a"
            write_wav(scratch / "real_length.wav", speechlike(REAL_M4A_SECONDS, 7))
            subprocess.run(["ffmpeg", "-nostdin", "-v", "8", "-y", "-i", str(scratch / "real_length.wav"),
                            "-c:a", "aac", "-b:a", "48k", str(real)], check=True)
            what = f"a synthesised {REAL_M4A_SECONDS} s m4a"
        else:
            what = str(real)
        cost_standin, cost_real = batched_cost(standin, runs, scratch), batched_cost(real, runs, scratch)
    return {"standin": cost_standin, "real": cost_real, "ratio": cost_real / cost_standin, "what": what}


def bench_scale(scale: float, args) -> dict:
    root = args.work / f"scale_{scale:g}"
    start = time.perf_counter()
    manifest = make_scale_corpus(root, scale=scale, seed=args.seed, vox2_format=args.vox2_format,
                                 sources=args.sources, log=lambda message: print(f"  {message}", flush=True))
    build = time.perf_counter() - start
    counts = manifest["counts"]
    data, work, converted = root / "data", root / "stage0_work", root / "voxceleb2" / "dev" / "wav"
    for path in (data, work, converted):
        shutil.rmtree(path, ignore_errors=True)
    heldout = min(40, counts["vox2_speakers"] // 2)
    cmd = ["bash", "local/prepare_voxceleb.sh", "--cmd", "run.pl", "--nj", str(args.nj), "--m4a-mode",
           args.m4a_mode, "--num-heldout-spk", str(heldout), "--keep-work", "true", "--work-dir", str(work),
           manifest["voxceleb1"], manifest["voxceleb2"], str(data)]
    recipe = REPO / "egs" / "voxceleb"
    wall, rss, output = run_measured(cmd, recipe)
    steps = parse_steps(output, work)
    shutil.rmtree(work)
    rerun_wall, rerun_rss, rerun_output = run_measured(cmd, recipe)
    rerun_steps = parse_steps(rerun_output, work)
    if not args.keep:
        for path in (data, work, converted):
            shutil.rmtree(path, ignore_errors=True)
    vox1 = counts["vox1_test_utterances"] + counts["vox1_dev_utterances"]
    return {"scale": scale, "vox1": vox1, "vox2": counts["vox2_utterances"], "build": build, "wall": wall,
            "rss": rss, "steps": steps, "rerun_wall": rerun_wall, "rerun_rss": rerun_rss,
            "rerun_steps": rerun_steps, "standin": str(root / ".sources" / "source00.m4a"),
            "heldout": heldout}


def print_scale(result: dict) -> None:
    total = result["vox1"] + result["vox2"]
    per = 100_000 / total
    print(f"\nscale {result['scale']:g}: {result['vox2']} VoxCeleb2 dev + {result['vox1']} VoxCeleb1 "
          f"utterances ({total} in all; tree ready in {result['build']:.1f} s; "
          f"--num-heldout-spk {result['heldout']})")
    print(f"  {'step':64s} {'seconds':>9s} {'s/100k':>9s} {'peak RSS':>9s}")
    for name, step in result["steps"].items():
        if name.startswith("jobs: "):
            if not step["files"]:
                continue
            files = step["files"]
            label = f"{name} (sum, {step['files']} files; slowest job {step['max_job']:.1f} s)"
            print(f"  {label:64s} {step['secs']:9.2f} {step['secs'] * 100_000 / files:9.2f} "
                  f"{step['rss']:6d} MiB")
        elif name.startswith("shell: "):
            print(f"  {name + ' (wall, with start-up)':64s} {step['secs']:9.2f} {step['secs'] * per:9.2f}")
        else:
            print(f"  {name:64s} {step['secs']:9.2f} {step['secs'] * per:9.2f} {step['rss']:6d} MiB")
    print(f"  {'stage 0 wall / peak RSS of the whole process tree':64s} {result['wall']:9.2f} "
          f"{result['wall'] * per:9.2f} {result['rss']:6.0f} MiB")
    files = result["rerun_steps"].get("jobs: durations", {}).get("files", 0)
    print(f"  {'re-run (unchanged corpus): wall / peak RSS':64s} {result['rerun_wall']:9.2f} "
          f"{result['rerun_wall'] * per:9.2f} {result['rerun_rss']:6.0f} MiB   ({files} files read)")


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(intercept, slope) of y = a + b x over the scales run (through the origin for a single scale)."""
    if len(points) == 1:
        return 0.0, points[0][1] / points[0][0]
    xs, ys = np.array(points).T
    slope, intercept = np.polyfit(xs, ys, 1)
    if slope < 0 or intercept < 0:  # noise at small sizes: fall back to proportional from the largest
        return 0.0, points[-1][1] / points[-1][0]
    return float(intercept), float(slope)


def serial_steps(result: dict) -> dict[str, float]:
    """Seconds of each step that runs once (not per job), and the python start-ups of the shell steps."""
    steps = result["steps"]
    inner = {n: s["secs"] for n, s in steps.items() if not n.startswith(("jobs: ", "shell: "))}
    shell = sum(steps[f"shell: {n}"]["secs"] for n in ("plan", "merge") if f"shell: {n}" in steps)
    inner["Kaldi validation (utils/validate_data_dir.sh)"] = steps["shell: Kaldi validation"]["secs"]
    inner["start-up"] = max(0.0, shell - sum(v for n, v in inner.items() if not n.startswith("Kaldi")))
    return inner


def extrapolate(results: list[dict], decode: dict | None, args) -> None:
    total_real = REAL_VOX1 + REAL_VOX2
    sizes = [r["vox1"] + r["vox2"] for r in results]
    per_scale = [serial_steps(r) for r in results]
    serial = 0.0
    for name in per_scale[-1]:
        if name == "start-up":
            serial += statistics.mean(p[name] for p in per_scale)
            continue
        a, b = fit([(n, p.get(name, 0.0)) for n, p in zip(sizes, per_scale)])
        serial += a + b * total_real
    last = results[-1]["steps"]
    conv = last.get("jobs: conversion", {"secs": 0.0, "files": 0, "max_job": 0.0})
    durs = last.get("jobs: durations", {"secs": 0.0, "files": 0, "max_job": 0.0})
    ratio = decode["ratio"] if decode else 1.0
    conv_per_file = conv["secs"] / conv["files"] * ratio if conv["files"] else 0.0
    decode_durations = args.m4a_mode == "pipe" and args.vox2_format == "m4a"
    dur_per_file = durs["secs"] / max(1, durs["files"]) * (ratio if decode_durations else 1.0)
    jobs_shell = next((s["secs"] for n, s in last.items() if n.startswith("shell: ") and "job" in n), 0.0)
    overhead = max(0.0, jobs_shell - (conv["max_job"] + durs["max_job"]))
    work_real = conv_per_file * (REAL_VOX2 if conv["files"] else 0) + dur_per_file * total_real
    rss_points = [(n, max(s["rss"] for s in r["steps"].values())) for n, r in zip(sizes, results)]
    if len(results) == 1:
        base = import_rss()
        rss_a, rss_b = base, (rss_points[0][1] - base) / sizes[0]
    else:
        rss_a, rss_b = fit(rss_points)
    rerun_a, rerun_b = fit([(n, r["rerun_wall"]) for n, r in zip(sizes, results)])
    how = "a + b x utterances fitted over the scales run" if len(results) > 1 else "proportional to size"
    print(f"\nextrapolated to the real corpora ({REAL_VOX2} + {REAL_VOX1} = {total_real} utterances; serial "
          f"steps {how}):")
    print(f"  serial steps (scan, plan, merge, validation, python start-ups): {serial:.0f} s")
    if conv["files"]:
        print(f"  conversion: {conv_per_file * 1000:.2f} ms per real-length file = measured "
              f"{conv['secs'] / conv['files'] * 1000:.2f} ms per stand-in x {ratio:.2f} (batched decode of "
              f"{decode['what']}: {decode['real'] * 1000:.2f} ms vs stand-in "
              f"{decode['standin'] * 1000:.2f} ms)")
    print(f"  sample counts: {dur_per_file * 1000:.3f} ms per file; per-file work in all {work_real:.0f} "
          f"core-seconds; job start-up {overhead:.1f} s")
    for nj in sorted({2, 64, args.nj}):
        jobs = work_real / nj + overhead
        print(f"  --nj {nj:3d}: per-file jobs {jobs:8.0f} s + serial {serial:6.0f} s = "
              f"{(jobs + serial) / 60:7.1f} min  (each job on its own core, storage keeping up)")
    print(f"  re-run on an unchanged corpus: {rerun_a + rerun_b * total_real:.0f} s")
    print(f"  peak RSS of the largest stage-0 process: {rss_a + rss_b * total_real:.0f} MiB "
          f"({rss_b * 100_000:.0f} MiB per 100k utterances)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="0.01", help="comma-separated fractions of the real sizes")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stage0_bench",
                        help="where the simulated trees, data dirs and converted wavs go (reused trees stay)")
    parser.add_argument("--nj", type=int, default=2, help="per-file jobs of the measured run")
    parser.add_argument("--m4a-mode", choices=("convert", "pipe"), default="convert",
                        help="as run.sh passes it (its default: convert)")
    parser.add_argument("--vox2-format", choices=("m4a", "wav"), default="m4a",
                        help="format of the simulated VoxCeleb2 files (wav: no ffmpeg, no conversion)")
    parser.add_argument("--sources", default=None, help="directory of real 16 kHz wavs to link to")
    parser.add_argument("--real-m4a", type=Path, default=None,
                        help="a real-length m4a for the decode cost (e.g. one of the mini corpus)")
    parser.add_argument("--decode-runs", type=int, default=5, help="timed batches per decode-cost figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs, work dir and converted wavs")
    args = parser.parse_args(argv)
    scales = sorted(float(s) for s in args.scale.split(","))
    print(f"stage 0 at scale(s) {', '.join(f'{s:g}' for s in scales)}, --nj {args.nj}, --m4a-mode "
          f"{args.m4a_mode}, VoxCeleb2 as {args.vox2_format}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    results = []
    for scale in scales:
        results.append(bench_scale(scale, args))
        print_scale(results[-1])
    decode = None
    if args.vox2_format == "m4a":
        decode = decode_costs(Path(results[-1]["standin"]), args.real_m4a, args.decode_runs)
    extrapolate(results, decode, args)
    if len(results) > 1:
        first, last = results[0], results[-1]
        rate = [r["wall"] / (r["vox1"] + r["vox2"]) * 100_000 for r in (first, last)]
        print(f"\nlinearity: stage-0 wall per 100k utterances {rate[0]:.1f} s at scale {first['scale']:g}, "
              f"{rate[1]:.1f} s at {last['scale']:g}")
    print(f"\n(json) {json.dumps([{k: v for k, v in r.items() if k != 'standin'} for r in results])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
