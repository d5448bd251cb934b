# SPDX-License-Identifier: Apache-2.0
import io

from p2phd.cli.progress import Progress
from p2phd.durations import format_seconds


def test_a_pipe_gets_one_plain_line_per_item_and_a_summary():
    stream = io.StringIO()
    progress = Progress(3, "images", "rendered", stream=stream)
    progress.update("a.png")
    progress.update("b.png", ok=False)
    progress.update("c.png")
    summary = progress.finish("to out/")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["[1/3]", "a.png"],
        ["[2/3]", "b.png"],
        ["[3/3]", "c.png"],
    ]
    assert "FAILED" in lines[1] and "ETA" in lines[0]
    assert lines[3] == summary and summary.startswith("2 of 3 images rendered in ")
    assert summary.endswith("to out/")


def test_a_terminal_gets_a_bar_redrawn_in_place():
    stream = io.StringIO()
    progress = Progress(4, stream=stream, interactive=True)
    for name in "abcd":
        progress.update(name)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 2  # the bar's line, the summary
    assert "|" + "#" * 24 + "|" in text and "[4/4] d" in text


def test_format_seconds():
    assert format_seconds(3.25) == "3.2 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(7260) == "2 h 01 min"
