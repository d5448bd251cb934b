# SPDX-License-Identifier: Apache-2.0
"""Export a pix2pixHD generator to TorchScript, ONNX or a TensorRT engine, with a JSON sidecar.

One module per artifact kind (`torchscript`, `onnx`, `engine`, `triton`), `graph` (what is
traced), `verify` (against float64 truth), `checker` (runs each stage's artifact against it),
`sidecar` (the one reader and writer of `<artifact>.json`, which Runtime uses too) and
`exporter` (the `export` function, one function per stage).

Every artifact gets `<artifact>.json` beside it, which is all a client needs to drive it:
format, config (GeneratorConfig), with_preprocess, precision, inputs and outputs (name, dtype,
shape), shape_range (dynamic exports), semantics (channel order, label range, edge rule,
instance id -> class rule, stride and padding rule, output mapping, in words and numbers),
clusters (feature models: class -> K x feat_num centres), versions, weights_sha256 (the
generator's), compute_capability, artifact_sha256 (the artifact file's) and for OpenVINO IR
bin_sha256 (its .bin's).

- plain: `input` N x input_nc x H x W (float32, or float16 for fp16) -> `output` N x 3 x H x W
  in [-1, 1], of the same dtype.
- `with_preprocess=True`: `labels` int32 N x H x W, `instances` int32 N x H x W (when the
  model uses instances), `features` float32 N x feat_num x H x W (feature models: the
  per-instance features broadcast to pixels, from the cluster table) -> `image` uint8
  N x H x W x 3. One-hot, instance edges and the uint8 conversion run inside the graph, the
  uint8 cast as its last op (TensorRT accepts UINT8 only on network inputs and outputs).
"""

from p2phd.export.common import (
    DEFAULT_SIZE,
    FORMATS,
    OPSET,
    PRECISIONS,
    ExportError,
    ExportUsageError,
)
from p2phd.export.engine import import_tensorrt, parse_compute_capability
from p2phd.export.exporter import ExportResult, export
from p2phd.export.verify import Verification, VerificationError
from p2phd.sidecar import SidecarError, read_sidecar, sidecar_path

__all__ = [
    "DEFAULT_SIZE",
    "FORMATS",
    "OPSET",
    "PRECISIONS",
    "ExportError",
    "ExportResult",
    "ExportUsageError",
    "SidecarError",
    "Verification",
    "VerificationError",
    "export",
    "import_tensorrt",
    "parse_compute_capability",
    "read_sidecar",
    "sidecar_path",
]
