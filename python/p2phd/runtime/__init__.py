# SPDX-License-Identifier: Apache-2.0
"""`Runtime` and its backends (torch, onnxruntime, TensorRT)."""

from p2phd.runtime.memory import RenderMemoryError
from p2phd.runtime.profile import RenderProfile
from p2phd.runtime.runtime import MAX_SIDE, Runtime

__all__ = ["MAX_SIDE", "RenderMemoryError", "RenderProfile", "Runtime"]
