// SPDX-License-Identifier: Apache-2.0
// The binding of instance_broadcast: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/instance_broadcast_cuda.cu) on the caller's stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "csrc/arrays.h"
#include "csrc/bindings.h"
#include "csrc/cpu_parallel.h"
#include "kernels/instance_broadcast.h"

namespace py = pybind11;

namespace p2phd {

namespace {

int64_t broadcast_workspace_bytes(int64_t ids) {
  require(ids >= 0 && ids <= kMaxInstanceId,
          "the number of ids must be in [0, 2^31 - 1], got " + std::to_string(ids));
  return instance_broadcast_workspace_bytes(ids);
}

void instance_broadcast(const Array& instances, const Array& ids, const Array& table,
                        const Array& out, const Array& workspace, const Array& status,
                        ThreadCount threads, uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require(ids.shape.size() == 1, "ids must be one-dimensional, got shape " + shape_text(ids.shape));
  const int64_t num_ids = ids.shape[0];
  require(num_ids <= kMaxInstanceId, "too many ids");
  require(table.shape.size() == 2 && table.shape[0] == num_ids,
          "table must be M x K with M = len(ids) = " + std::to_string(num_ids) + ", got shape " +
              shape_text(table.shape));
  const int64_t channels = table.shape[1];
  require_same_device(ids, instances, "ids");
  require_same_device(table, instances, "table");
  require_pointer(ids, "ids");
  require_pointer(table, "table");
  require_output(out, {shape.n, channels, shape.h, shape.w}, instances);
  require(out.dtype == table.dtype, "out must have the table's dtype");
  require_disjoint(out, instances, "instances", ids, "ids", table, "table");
  require_workspace(workspace, instances, instance_broadcast_workspace_bytes(num_ids));
  require_status(status, instances);
  if (shape.total() == 0 || channels == 0) {
    return;
  }
  const int device = instances.device;
  P2PHD_RUN(instance_broadcast_cpu(instances.data(), instances.dtype, shape, ids.data(), ids.dtype,
                                   num_ids, table.data(), table.dtype, channels, out.data(),
                                   workspace.data(), status.data<int64_t>()),
            instance_broadcast_cuda(instances.data(), instances.dtype, shape, ids.data(), ids.dtype,
                                    num_ids, table.data(), table.dtype, channels, out.data(),
                                    workspace.data(), status.data<int64_t>(), device, stream));
}

}  // namespace

void bind_instance_broadcast(py::module_& m) {
  m.def("instance_broadcast_workspace_bytes", &broadcast_workspace_bytes, py::arg("ids"));
  m.def("instance_broadcast", &instance_broadcast, py::call_guard<py::gil_scoped_release>(),
        py::arg("instances"), py::arg("ids"), py::arg("table"), py::arg("out"),
        py::arg("workspace"), py::arg("status"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
