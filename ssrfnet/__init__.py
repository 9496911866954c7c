"""SSRFNet: Stage-wise SV-Mixer and ReDimNet Fusion Network for speaker verification."""

__version__ = "0.1.0"
