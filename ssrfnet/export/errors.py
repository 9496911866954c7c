"""Errors of stage 6 and of the exported graphs."""

from __future__ import annotations

from ssrfnet.errors import CheckpointError, SSRFNetError


class ExportError(SSRFNetError, RuntimeError):
    """Export failed: a parity check, the quantizer or the output directory (names the file and check)."""


class OnnxModelError(CheckpointError):
    """An ONNX file that is not an ssrfnet export, is unreadable, or belongs to another model or version."""
