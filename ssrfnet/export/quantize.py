"""Dynamic int8 quantization of an exported graph (`model.onnx` -> `model.int8.onnx`).

ONNX Runtime's dynamic quantization stores the weights as int8 and quantizes each activation on the fly
(per tensor, uint8), running the products as integer GEMMs. Only the MatMul nodes whose second input is a
float32 weight initializer are quantized: those are the SV-Mixer CNN, mixer blocks and PFM projections in
the GEMM form `ssrfnet.export.graph` exports (about 95% of the multiply-adds). Left in float: products of
two activations (ReDimNet attention; both sides would be quantized on the fly), the float64 DFT of the
log-mel front end, and Conv nodes (ONNX Runtime's ConvInteger has no int8-weight CPU kernel, and the
remaining convolutions are small). Weights are quantized per output channel by default
(`per_channel`), which costs nothing at run time and keeps the embeddings closest to fp32.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ssrfnet.export.errors import ExportError
from ssrfnet.export.metadata import metadata_of, write_metadata

QUANTIZATION = "int8-dynamic"


def weight_matmuls(model) -> list[str]:
    """Names of the MatMul nodes of an onnx.ModelProto whose second input is a float32 initializer."""
    import onnx

    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    # a weight folded into a Constant node instead of an initializer counts too
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None and value.data_type == onnx.TensorProto.FLOAT and len(value.dims) >= 2:
                floats.add(node.output[0])
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in floats]


def quantize_int8(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, *,
                  per_channel: bool = True) -> dict:
    """Write the int8 dynamic quantization of `fp32_path` to `int8_path` (atomically), carrying over its
    ssrfnet metadata; returns {'quantized_nodes', 'per_channel', 'bytes'}."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    source = onnx.load(str(fp32_path))
    nodes = weight_matmuls(source)
    if not nodes:
        raise ExportError(f"{fp32_path}: no MatMul with a weight initializer to quantize")
    session = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    metadata_of(meta, fp32_path)  # refuses a graph that is not ours before quantizing it
    identity = {k[len("ssrfnet."):]: v for k, v in meta.items()
                if k.startswith("ssrfnet.") and k != "ssrfnet.quantization"}
    tmp = int8_path.with_name(f".{int8_path.name}.tmp{os.getpid()}")
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs a warning per float64 tensor it skips
    try:
        quantize_dynamic(str(fp32_path), str(tmp), op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
                         per_channel=per_channel, weight_type=QuantType.QInt8)
        write_metadata(tmp, identity, quantization=QUANTIZATION)
        os.replace(tmp, int8_path)
    finally:
        logging.getLogger().setLevel(quiet)
        if tmp.exists():
            tmp.unlink()
    return {"quantized_nodes": len(nodes), "per_channel": per_channel, "bytes": int8_path.stat().st_size}
