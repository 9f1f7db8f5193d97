"""Every output of ``rcbot analyze`` and of the demo round, against golden copies.

The copies in ``expected/`` were made by the code before the speed work of issue 13
(``python -m tests.golden.regenerate``), so faster reading, validation, drawing or resampling
must leave every published figure as it was: CSV, Markdown and JSON files byte for byte, the
workbook cell by cell, the pictures by what they are drawn from (their figure data).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.golden.regenerate import EXPECTED, all_cases


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return all_cases(tmp_path_factory.mktemp("golden"))


def expected() -> dict[str, dict[str, str]]:
    return {
        case.name: {path.name: path.read_text(encoding="utf-8") for path in case.iterdir()}
        for case in sorted(EXPECTED.iterdir())
    }


def test_every_output_is_as_before(produced: dict[str, dict[str, str]]) -> None:
    golden = expected()
    assert sorted(produced) == sorted(golden)
    for case, files in golden.items():
        assert sorted(produced[case]) == sorted(files), case
        for name, text in files.items():
            got = produced[case][name]
            if got != text:
                diff = "".join(
                    list(
                        difflib.unified_diff(
                            text.splitlines(keepends=True),
                            got.splitlines(keepends=True),
                            f"expected/{case}/{name}",
                            f"produced/{case}/{name}",
                        )
                    )[:60]
                )
                pytest.fail(f"{case}/{name} differs from its golden copy:\n{diff}")


def test_the_pictures_are_pngs_of_the_published_size(tmp_path: Path) -> None:
    """The pictures' content is compared through their figure data above; here only that
    ``rcbot analyze`` wrote real 1200 x 900 PNG files."""
    import struct
    import subprocess
    import sys

    from tests.golden.regenerate import INPUTS, ROOT

    rcbot = Path(sys.executable).parent / "rcbot"
    out = tmp_path / "out"
    subprocess.run(
        [str(rcbot), "analyze", str(INPUTS / "current.csv"), "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    for name in ("heatmap.png", "network.png", "dimensions.png"):
        head = (out / name).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n", name
        assert struct.unpack(">II", head[16:24]) == (1200, 900), name
