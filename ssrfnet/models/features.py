"""Log-mel front end shared by ReDimNet and the SSRFNet spectrogram branch.

Matches the official MelBanks recipe: pre-emphasis 0.97 with a 1-sample reflect pad, Hamming STFT
(n_fft 512, win 400), HTK mel filters over 20-7600 Hz without normalisation, power 2, ln(x + 1e-6)
and per-utterance mean subtraction over time. Always computed in fp32 without autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400


class LogMel(nn.Module):
    """(B, N) float waveform -> (B, n_mels, 1 + N // hop) log-mel, mean-normalised over time.

    The window and filterbank are derived constants, so they are non-persistent buffers.
    """

    def __init__(self, n_mels: int = 80, hop_length: int = 160, norm_signal: bool = False,
                 preemphasis: float = 0.97, f_min: float = 20.0, f_max: float = 7600.0):
        super().__init__()
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.norm_signal = norm_signal
        self.preemphasis = preemphasis
        # Computed on the CPU even inside a `torch.device('meta')` block (melscale_fbanks reads values).
        with torch.device("cpu"):
            window = torch.hamming_window(WIN_LENGTH)
            fb = torchaudio.functional.melscale_fbanks(
                N_FFT // 2 + 1, f_min, f_max, n_mels, SAMPLE_RATE, norm=None, mel_scale="htk")
            emphasis = torch.tensor([[[-preemphasis, 1.0]]])
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fbank", fb, persistent=False)  # (n_fft/2+1, n_mels)
        self.register_buffer("emphasis", emphasis, persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop_length

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = wav.float()
            if self.norm_signal:
                x = (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-8)
            x = F.pad(x.unsqueeze(1), (1, 0), mode="reflect")
            x = F.conv1d(x, self.emphasis).squeeze(1)
            spec = torch.stft(x, N_FFT, hop_length=self.hop_length, win_length=WIN_LENGTH,
                              window=self.window, center=True, pad_mode="reflect", normalized=False,
                              onesided=True, return_complex=True)
            power = spec.abs().pow(2.0)
            mel = torch.matmul(power.transpose(-1, -2), self.fbank).transpose(-1, -2)
            mel = (mel + 1e-6).log()
            return mel - mel.mean(dim=-1, keepdim=True)


def add_logmel_noise(mel: torch.Tensor, low: float = 0.001, high: float = 0.01) -> torch.Tensor:
    """Training-time Gaussian noise on the log-mel, sigma ~ U(low, high) drawn per utterance."""
    sigma = torch.empty(mel.shape[0], 1, 1, device=mel.device, dtype=mel.dtype).uniform_(low, high)
    return mel + sigma * torch.randn_like(mel)
