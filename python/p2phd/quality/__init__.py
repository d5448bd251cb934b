# SPDX-License-Identifier: Apache-2.0
"""Image quality the way pix2pixHD measures it: a segmenter judges renders (`judge`,
`training`) and `scoring` turns its output into pixel accuracy and mean IoU;
p2phd.bench.quality runs `p2phd-bench quality` on them."""
