"""Stage 4: speaker embeddings of every utterance of a data directory.

Official protocol (SSRFNet eval): each file gives `num_crops` (10) crops of the model's input length
(3 s = 48000 samples) starting at `int(linspace(0, len - 48000, 10))`; a file of at most 3 s is
wrap-padded to 3 s and that crop is replicated 10 times. Crops of many utterances are batched into
one forward pass (`batch_size` crops per pass).

Per utterance we store:
- `crops.{ark,scp}`: the (num_crops, dim) crop embeddings (scored as the mean of the crop x crop cosines);
- `xvector.{ark,scp}`: one (dim,) vector. For a length-agnostic model (`crop_samples` None) it is the
  embedding of the whole utterance (when `full_utt`); for a fixed-length model such as the faithful
  SV-Mixer/SSRFNet it is the mean of the crop embeddings.

Jobs write `split.new/xvector.<job>.{ark,scp}` atomically (temporary names, renamed when complete) and
`merge_parts` joins them into `xvector.scp` only when every utterance of the data directory is present;
otherwise it fails naming the missing utterances. The new job outputs replace `split/` and the merged scps
as one set (`ssrfnet.fileio.commit_dir`), so a failing re-extraction leaves the earlier embeddings (split/
and the merged scps that point into it) byte-identical.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ssrfnet.audio import SAMPLE_RATE, AudioError, read_audio_checked
from ssrfnet.data.crops import make_crops
from ssrfnet.errors import ConfError, SSRFNetError
from ssrfnet.fileio import atomic_write, atomic_write_text, commit_dir, recover_staged
from ssrfnet.kaldi.table import read_table

log = logging.getLogger("ssrfnet.extract")


class ExtractionError(SSRFNetError, RuntimeError):
    pass


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class EmbeddingExtractor:
    """Batched crop (and whole-utterance) embeddings from any model honouring the embedding interface."""

    def __init__(
        self,
        model,
        *,
        num_crops: int = 10,
        crop_seconds: float = 3.0,
        batch_size: int = 40,
        full_utt: bool = True,
        device="cpu",
    ):
        """`model`: an nn.Module with embed_dim, crop_samples and forward(wav (B, N)) -> (B, embed_dim)."""
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = model.eval().to(self.device)
        self.embed_dim = int(model.embed_dim)
        fixed = getattr(model, "crop_samples", None)
        self.fixed_length = fixed is not None
        self.crop_samples = int(fixed) if fixed is not None else int(round(crop_seconds * SAMPLE_RATE))
        self.num_crops = int(num_crops)
        self.batch_size = max(1, int(batch_size))
        self.full_utt = bool(full_utt) and not self.fixed_length
        if self.num_crops < 1:
            raise ConfError(f"--eval-num-crops must be >= 1, got {num_crops}")

    @classmethod
    def from_options(cls, model, options: dict, device="auto") -> EmbeddingExtractor:
        """An extractor configured by the evaluation option group (`--eval-*`, ssrfnet.scoring.options)."""
        return cls(model, num_crops=options["eval_num_crops"], crop_seconds=options["eval_crop_seconds"],
                   batch_size=options["eval_batch_size"], full_utt=options["eval_full_utt"], device=device)

    def describe(self) -> str:
        return (f"embed_dim {self.embed_dim}, {'fixed length' if self.fixed_length else 'any length'}, "
                f"{self.num_crops} crops of {self.crop_samples} samples, {self.batch_size} crops per batch, "
                f"device {self.device}")

    def forward(self, batch: np.ndarray, key: str = "") -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            out = self.model(x)
        if out.ndim != 2 or out.shape[0] != x.shape[0] or out.shape[1] != self.embed_dim:
            raise ExtractionError(
                f"model output for {key or 'a batch'} has shape {tuple(out.shape)}, expected "
                f"({x.shape[0]}, {self.embed_dim}) (embed_dim)"
            )
        return out.float().cpu().numpy()

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """(M, crop_samples) -> (M, dim), `batch_size` crops per forward pass."""
        return np.concatenate(
            [self.forward(crops[i : i + self.batch_size]) for i in range(0, len(crops), self.batch_size)]
        )

    def _flush(self, pending, failed):
        crops = np.concatenate([c for _, _, c in pending])
        emb = self.embed_crops(crops)
        offset = 0
        for key, wav, c in pending:
            e = emb[offset : offset + len(c)]
            offset += len(c)
            vec = self.forward(wav[None, :], key)[0] if self.full_utt else e.mean(axis=0)
            if not (np.all(np.isfinite(e)) and np.all(np.isfinite(vec))):
                # one utterance (e.g. silence through a model that normalises by its energy) must not cost
                # the others of its batch their embeddings
                why = "the model produced NaN/inf embeddings for it"
                if failed is None:
                    raise ExtractionError(f"{key}: {why}")
                log.warning("skipping %s: %s", key, why)
                failed.append((key, why))
                continue
            yield key, vec.astype(np.float32), e.astype(np.float32)

    def extract(self, items, failed: list | None = None):
        """items: iterable of (key, wav). Yields (key, vector (dim,), crops (num_crops, dim)).

        An utterance whose embedding is not finite is an ExtractionError naming it, or, when `failed` is a
        list, appended to it as (key, reason) and skipped."""
        pending, count = [], 0
        for key, wav in items:
            c = make_crops(wav, self.crop_samples, self.num_crops)
            pending.append((key, wav, c))
            count += len(c)
            if count >= self.batch_size:
                yield from self._flush(pending, failed)
                pending, count = [], 0
        if pending:
            yield from self._flush(pending, failed)


def iter_audio(entries, where_prefix: str, prefetch: int = 4, failed: list | None = None,
               notes: list | None = None, crop_samples: int | None = None):
    """Yield (key, wav) for (key, wav.scp value) pairs, reading ahead in threads; bad audio (unreadable,
    NaN/Inf samples, ...) is logged and skipped (appended to `failed`) so one broken file does not hide the
    others; odd but usable audio (several channels, silence, shorter than `crop_samples`) is logged once
    and appended to `notes`."""
    def load(key, entry):
        return read_audio_checked(entry, where=f"{where_prefix}:{key}", crop_samples=crop_samples)

    with ThreadPoolExecutor(max_workers=max(1, prefetch)) as pool:
        queue = collections.deque()
        it = iter(entries)
        for key, entry in it:
            queue.append((key, pool.submit(load, key, entry)))
            if len(queue) >= prefetch:
                break
        while queue:
            key, fut = queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt[0], pool.submit(load, *nxt)))
            try:
                wav, odd = fut.result()
            except AudioError as err:
                log.warning("skipping %s: %s", key, err)
                if failed is not None:
                    failed.append((key, str(err)))
                continue
            for note in odd:
                log.warning("%s: %s", key, note)
                if notes is not None:
                    notes.append((key, note))
            yield key, wav


def job_slice(keys: list[str], job: int, num_jobs: int) -> list[str]:
    """Contiguous 1-based job share of the sorted keys (np.array_split sizes)."""
    if not 1 <= job <= num_jobs:
        raise ValueError(f"job {job} is outside 1..{num_jobs}")
    bounds = np.linspace(0, len(keys), num_jobs + 1).astype(np.int64)
    return keys[bounds[job - 1] : bounds[job]]


class ArkScpWriter:
    """kaldiio ark+scp written under temporary names; `commit()` renames them, scp last."""

    def __init__(self, ark: Path, scp: Path):
        import kaldiio

        self.ark, self.scp = Path(ark), Path(scp)
        self.ark.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_ark = self.ark.with_name(f".{self.ark.name}.tmp{os.getpid()}")
        self.tmp_scp = self.scp.with_name(f".{self.scp.name}.tmp{os.getpid()}")
        self._writer = kaldiio.WriteHelper(f"ark,scp:{self.tmp_ark},{self.tmp_scp}")

    def __call__(self, key: str, array: np.ndarray):
        self._writer(key, np.asarray(array, dtype=np.float32))

    def commit(self):
        self._writer.close()
        lines = []
        with open(self.tmp_scp, encoding="utf-8") as handle:
            for line in handle:
                key, rest = line.rstrip("\n").split(" ", 1)
                path, offset = rest.rsplit(":", 1)
                if path != str(self.tmp_ark):
                    raise ExtractionError(f"unexpected ark path {path} in {self.tmp_scp}")
                lines.append(f"{key} {self.ark}:{offset}\n")
        os.replace(self.tmp_ark, self.ark)
        with atomic_write(self.scp) as handle:
            handle.writelines(lines)
        os.unlink(self.tmp_scp)

    def abort(self):
        self._writer.close()
        for p in (self.tmp_ark, self.tmp_scp):
            if p.exists():
                p.unlink()


def extract_job(
    extractor: EmbeddingExtractor,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    job: int = 1,
    num_jobs: int = 1,
    write_crops: bool = True,
    prefetch: int = 4,
) -> dict:
    """Embed this job's share of `<data>/wav.scp` into `<out>/split.new/{xvector,crops}.<job>.{ark,scp}`
    (`merge_parts` moves them to `<out>/split/`)."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    wav_scp = data_dir / "wav.scp"
    table = dict(read_table(wav_scp))
    keys = job_slice(sorted(table), job, num_jobs)
    split = out_dir / STAGING
    writers = {"xvector": ArkScpWriter(split / f"xvector.{job}.ark", split / f"xvector.{job}.scp")}
    if write_crops:
        writers["crops"] = ArkScpWriter(split / f"crops.{job}.ark", split / f"crops.{job}.scp")
    failed: list = []
    notes: list = []
    start, done, seconds = time.time(), 0, 0.0
    try:
        audio = iter_audio(((k, table[k]) for k in keys), str(wav_scp), prefetch, failed, notes,
                           crop_samples=extractor.crop_samples)

        def counted():
            nonlocal seconds
            for key, wav in audio:
                seconds += len(wav) / SAMPLE_RATE
                yield key, wav

        for key, vec, crops in extractor.extract(counted(), failed):
            writers["xvector"](key, vec)
            if write_crops:
                writers["crops"](key, crops)
            done += 1
            if done % 1000 == 0:
                log.info("job %d: %d/%d utterances (%.1f s)", job, done, len(keys), time.time() - start)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.commit()
    elapsed = time.time() - start
    log.info(
        "job %d: %d of %d utterances, %.1f h audio in %.1f s (%.0fx real time); %d failed",
        job, done, len(keys), seconds / 3600, elapsed, seconds / max(elapsed, 1e-9), len(failed),
    )
    return {"job": job, "done": done, "total": len(keys), "failed": failed, "notes": notes,
            "seconds": elapsed}


STAGING = "split.new"  # where the jobs of a run write, until merge_parts moves their outputs to split/


def _final_line(line: str, staging: Path, split: Path) -> str:
    """A job scp line whose ark lies in the staging directory, pointing into split/ instead."""
    key, rest = line.rstrip("\n").split(" ", 1)
    path, offset = rest.rsplit(":", 1)
    if Path(path).parent.name == staging.name:
        path = str(Path(path).parent.parent / split.name / Path(path).name)
    return f"{key} {path}:{offset}\n"


def _job_lines(out_dir: Path, parts: Path, name: str, num_jobs: int, data_dir: Path, wanted: list[str],
               ) -> dict[int, list[str]]:
    """{job: its scp lines} of one table; ExtractionError naming the utterances without an embedding."""
    jobs, seen, missing_parts = {}, set(), []
    for job in range(1, num_jobs + 1):
        part = parts / f"{name}.{job}.scp"
        if not part.is_file():
            missing_parts.append(str(part))
            continue
        with open(part, encoding="utf-8") as handle:
            jobs[job] = [line if line.endswith("\n") else line + "\n" for line in handle]
        seen.update(line.split(" ", 1)[0] for line in jobs[job])
    missing = [k for k in wanted if k not in seen]
    if missing_parts or missing:
        shown = " ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        gone = f"; job outputs missing: {' '.join(missing_parts)}" if missing_parts else ""
        raise ExtractionError(
            f"{out_dir}: {len(missing)} of {len(wanted)} utterances of {data_dir} have no {name} "
            f"embedding: {shown}{gone} (see {out_dir}/log/extract.*.log)"
        )
    return jobs


def merge_parts(data_dir: str | os.PathLike, out_dir: str | os.PathLike, num_jobs: int,
                write_crops: bool = True) -> int:
    """Join the job scps into `<out>/xvector.scp` (+ crops.scp); fail naming utterances without embeddings.

    The outputs of a new run (`<out>/split.new/`) replace split/ and the merged scps as one set; a failing
    merge leaves the earlier ones as they were. Without split.new (`--stage 1` after a finished run) the
    parts in split/ are merged again, and a failure then leaves no merged scp behind."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    split, staging = out_dir / "split", out_dir / STAGING
    recover_staged(split)
    staged = staging.is_dir()
    parts = staging if staged else split
    wanted = [k for k, _ in read_table(data_dir / "wav.scp")]
    names = ["xvector"] + (["crops"] if write_crops else [])
    if not staged:
        for name in names:
            (out_dir / f"{name}.scp").unlink(missing_ok=True)  # never leave a stale merged scp
    merged = {}
    for name in names:
        jobs = _job_lines(out_dir, parts, name, num_jobs, data_dir, wanted)
        if staged:  # the job scps too must point into split/ once the directory is moved there
            jobs = {job: [_final_line(line, staging, split) for line in lines] for job, lines in jobs.items()}
            for job, lines in jobs.items():
                atomic_write_text(staging / f"{name}.{job}.scp", "".join(lines))
        lines = {line.split(" ", 1)[0]: line for job_lines in jobs.values() for line in job_lines}
        keep = set(wanted)
        merged[out_dir / f"{name}.scp"] = "".join(lines[k] for k in sorted(lines) if k in keep)
    if staged:
        if not write_crops:  # an earlier run's crops.scp points into the split/ that is about to go
            (out_dir / "crops.scp").unlink(missing_ok=True)
        commit_dir(staging, split, merged.items())
    else:
        for path, text in merged.items():
            atomic_write_text(path, text)
    return len(wanted)


def extract_data_dir(extractor: EmbeddingExtractor, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                     *, write_crops: bool = True) -> Path:
    """Single-process extraction + merge of a whole data directory (evaluate, tests)."""
    extract_job(extractor, data_dir, out_dir, write_crops=write_crops)
    merge_parts(data_dir, out_dir, 1, write_crops)
    return Path(out_dir)
