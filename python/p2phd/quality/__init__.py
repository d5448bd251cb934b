# SPDX-License-Identifier: Apache-2.0
"""Image quality the way pix2pixHD measures it: a segmenter judges renders (`judge`,
`training`), `scoring` turns its output into pixel accuracy and mean IoU, and `bench` runs
`p2phd-bench quality`."""
