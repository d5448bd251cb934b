# SPDX-License-Identifier: Apache-2.0
"""Data helpers: synthetic inputs for demos, tests and benchmarks."""
