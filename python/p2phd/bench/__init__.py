# SPDX-License-Identifier: Apache-2.0
"""The benchmarks behind `p2phd-bench`, one module per subcommand: `ops` (each native op
against the pure-torch reference and the public way), `render` (whole renders per backend),
`quality` (the paper's segmentation score), `serve` (a loopback load test of p2phd-serve) and
`distributed` (a folder render, one process against Ray Data). They time through Runtime's
public API, all with `timing`'s one loop (warm-up, interleaved rounds, medians, the load
average); the command-line parsing lives in p2phd.cli.bench."""
