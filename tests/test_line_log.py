# SPDX-License-Identifier: Apache-2.0
"""line_log and the logs written with it: the manifest beside a folder render's outputs
(map_jobs) and a training run's loss log hold whole lines only, even after a run stopped
while writing one, or a write that failed half way (a full disk)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from p2phd.map_jobs import MANIFEST_NAME, Job, append_manifest, manifest_record, open_manifest

RECORD = {"output": "a.png", "seed": 0}


def _records(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    "before",
    ["", '{"output": "a.png"}\n', '{"output": "a.png"}\n{"outp', '{"outp', "\n\n{"],
)
def test_a_torn_last_line_is_cut_before_appending(tmp_path, before):
    path = tmp_path / MANIFEST_NAME
    path.write_text(before)
    whole = before[: before.rfind("\n") + 1]
    with open_manifest(tmp_path) as manifest:
        append_manifest(manifest, RECORD)
    assert path.read_text() == whole + json.dumps(RECORD, sort_keys=True) + "\n"


def test_a_new_manifest_is_created(tmp_path):
    with open_manifest(tmp_path) as manifest:
        append_manifest(manifest, RECORD)
        append_manifest(manifest, {**RECORD, "seed": 1})
    assert [r["seed"] for r in _records(tmp_path / MANIFEST_NAME)] == [0, 1]


def test_a_record_that_cannot_be_written_whole_is_taken_back(tmp_path):
    # A file size limit makes the write stop part way, as a full disk does.
    path = tmp_path / MANIFEST_NAME
    script = f"""
        import resource, signal
        from pathlib import Path
        from p2phd.map_jobs import append_manifest, open_manifest
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        folder = Path({str(tmp_path)!r})
        with open_manifest(folder) as manifest:
            append_manifest(manifest, {{"output": "first.png"}})
            size = (folder / {MANIFEST_NAME!r}).stat().st_size
            resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, resource.RLIM_INFINITY))
            try:
                append_manifest(manifest, {{"output": "x" * 200}})
            except OSError as error:
                print("refused:", error.strerror)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout
    assert _records(path) == [{"output": "first.png"}]


def test_records_name_the_job(tmp_path):
    job = Job(tmp_path / "l.png", None, tmp_path / "out" / "l.png")
    record = manifest_record(job, {"backend": "openvino"}, 3, {7: 1})
    assert record["output"] == "l.png" and record["seed"] == 3 and record["style"] == {"7": 1}


def test_the_loss_log_cuts_a_torn_row_and_keeps_its_header(tmp_path):
    import csv

    from p2phd.train.records import CSV_FIELDS, append_csv_row

    path = tmp_path / "loss_log.csv"
    row = dict.fromkeys(CSV_FIELDS, 1.5)
    append_csv_row(path, row)
    with path.open("a") as log:
        log.write("2,3,4")  # a row a stopped machine left half written
    append_csv_row(path, {**row, "epoch": 7})
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["1.5", "7"]
    path.write_text("epoch,epoch_i")  # a header cut short: the file starts again
    append_csv_row(path, row)
    assert [r["epoch"] for r in csv.DictReader(path.open())] == ["1.5"]
