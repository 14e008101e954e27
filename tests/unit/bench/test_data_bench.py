import pytest

from laserlab.bench import data as bench


@pytest.mark.slow  # three fresh Python processes, each importing torch
def test_data_bench_prints_every_row(capsys, tmp_path):
    argv = ["--files", "40", "--baseline-files", "10", "--per-folder", "16", "--sample", "5", "--rounds", "1"]
    assert bench.main([*argv, "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "load average" in out
    rows = ("dataset('folder'), 10 files", "dataset('folder'), 40 files", "former, 40 files (estimate)")
    assert all(row in out for row in rows)
    assert "bytes per extra file" in out and "faster than the former estimate" in out
    assert list(tmp_path.iterdir()) == []  # the folders are deleted


def test_write_folder_spreads_files_over_subfolders(tmp_path):
    bench.write_folder(tmp_path, 5, size=4, per_folder=2)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "part_00000/image_0000000.png",
        "part_00000/image_0000001.png",
        "part_00001/image_0000002.png",
        "part_00001/image_0000003.png",
        "part_00002/image_0000004.png",
    ]
