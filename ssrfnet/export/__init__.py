"""Stage 6 and the exported graphs: TorchScript/ONNX export with parity checks (`stage`), the traceable
twin of a model (`graph`), the identity metadata of an ONNX file (`metadata`), int8 quantization
(`quantize`) and its measured cost (`cost`), and the onnxruntime backend (`runtime`)."""

from ssrfnet.export.errors import ExportError, OnnxModelError
from ssrfnet.export.graph import DftLogMel, exportable, realish_audio
from ssrfnet.export.stage import export_markdown, export_model

__all__ = ["DftLogMel", "ExportError", "OnnxModelError", "export_markdown", "export_model", "exportable",
           "realish_audio"]
