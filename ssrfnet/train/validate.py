"""The development EER of stages 2-3, computed as stages 4-5 compute it: the official evaluation crops
(`ssrfnet.data.crops.make_crops`, --valid-num-crops of them) embedded by `ssrfnet.extract.EmbeddingExtractor`,
scored with the crops protocol (mean of the crop x crop cosines, `ssrfnet.scoring.cosine`), EER from
`ssrfnet.scoring.metrics`. The development trials come from held-out training-corpus speakers, never a test
list. In stage 2 the student has no embedding: its last hidden state averaged over time stands in for one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssrfnet.audio import read_audio
from ssrfnet.extract import EmbeddingExtractor
from ssrfnet.kaldi.table import read_dict
from ssrfnet.kaldi.trials import read_trials
from ssrfnet.scoring.cosine import Embeddings, score_trials
from ssrfnet.scoring.metrics import compute_eer
from ssrfnet.train.runconfig import TrainError

AUDIO_CACHE_SAMPLES = 64_000_000  # decoded development audio kept between validations (256 MB of float32)


class StudentEmbedder(nn.Module):
    """A stage-2 student as an embedder: the time average of its last hidden state."""

    def __init__(self, student: nn.Module, crop_samples: int):
        super().__init__()
        self.student = student
        self.embed_dim = int(student.hidden_size)
        self.crop_samples = crop_samples

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.student(wav)[:, -1].mean(dim=1)


class Validator:
    """Reads the development trials and their audio once; `eer(model)` embeds and scores them."""

    def __init__(self, dev_data: str, dev_trials: str, options: dict):
        self.trials = read_trials(dev_trials)
        self.trials_name = str(dev_trials)
        scp = Path(dev_data) / "wav.scp"
        if not scp.is_file():
            raise TrainError(f"{scp}: not found (development data for the validation EER)")
        entries = read_dict(scp)
        needed = sorted({u for e, t, _ in self.trials for u in (e, t)})
        missing = [u for u in needed if u not in entries]
        if missing:
            raise TrainError(f"{dev_trials}: {len(missing)} trial utterance(s) are not in {scp}, "
                             f"e.g. {missing[0]}")
        self.entries = [(utt, entries[utt], f"{scp}: {utt}") for utt in needed]
        self.num_crops = options["valid_num_crops"]
        self.batch_size = options["valid_batch_size"]
        self._audio: dict[str, np.ndarray] = {}

    def _utterances(self):
        cached = 0
        for utt, entry, where in self.entries:
            wav = self._audio.get(utt)
            if wav is None:
                wav = read_audio(entry, where=where)
                if cached + wav.size <= AUDIO_CACHE_SAMPLES:
                    self._audio[utt] = wav
            cached += wav.size
            yield utt, wav

    def eer(self, model: nn.Module, device: torch.device) -> float:
        """EER (a fraction) of `model` (an embedder, or a StudentEmbedder) on the development trials."""
        was_training = model.training
        extractor = EmbeddingExtractor(model, num_crops=self.num_crops, batch_size=self.batch_size,
                                       full_utt=False, device=device)
        try:
            keys, vectors, crops = zip(*extractor.extract(self._utterances()))
        finally:
            model.train(was_training)
        emb = Embeddings(list(keys), np.stack(vectors), np.stack(crops), source="development data")
        scores, labels = score_trials(emb, self.trials, "crops", trials_name=self.trials_name)
        return compute_eer(scores, labels, name=self.trials_name)[0]
