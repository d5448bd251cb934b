# SPDX-License-Identifier: Apache-2.0
"""The HTTP API of p2phd-serve: one router per resource."""
