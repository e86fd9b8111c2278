"""The report as a reader sees it: rendered by headless Chromium (Debian's `chromium`), offline, and the
screenshot looked at: it decodes, has the window's size, and the charts are drawn where they should be.

Skipped where chromium is missing, except in CI ($CI set), where it must be there (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from auditlog.render_svg import PALETTE
from tests.integration.cli_support import ok
from tests.report.png import decode_png

WIDTH, HEIGHT = 1280, 2000
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.slow


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def screenshot(page: Path, tmp_path: Path) -> np.ndarray:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must install it (.ci/run does, as root)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    png, profile = tmp_path / "shot.png", tmp_path / "profile"
    profile.mkdir()
    command = [CHROMIUM, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
               page.resolve().as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    result = subprocess.run(command, capture_output=True, timeout=180, env={**os.environ, "HOME": str(tmp_path)})
    assert png.is_file(), result.stderr.decode(errors="replace")[-2000:]
    return decode_png(png.read_bytes())


def test_the_report_renders_with_its_charts(tmp_path: Path):
    db = tmp_path / "evals.db"
    ok("demo", "--log", db)
    page = tmp_path / "report.html"
    ok("report", "--log", db, "--out", page)
    image = screenshot(page, tmp_path)[:, :, :3]

    assert image.shape[:2] == (HEIGHT, WIDTH)
    non_white = np.any(image < 250, axis=2)
    assert non_white.mean() > 0.05, "the page is (nearly) blank"
    # the verification box: its green background, near the top
    green = np.all(image == rgb("#e3f4ea"), axis=2)
    ys = np.nonzero(green)[0]
    assert green.sum() > 20_000 and ys.max() < HEIGHT / 4
    # the charts: the two models' lines in their palette colours, below the verification and the timeline
    for colour in PALETTE[:2]:
        drawn = np.all(image == rgb(colour), axis=2)
        assert drawn.sum() > 1_000, f"{colour}: {drawn.sum()} pixels"
        assert np.nonzero(drawn)[0].min() > ys.max()
    rows = np.nonzero(np.any(np.all(image == rgb(PALETTE[0]), axis=2), axis=1))[0]
    charts = image[rows.min():rows.max() + 1]
    distinct = len(np.unique(charts.reshape(-1, 3), axis=0))
    assert distinct > 100, f"only {distinct} colours where the charts are"  # lines, dots, text, antialiasing
    # each half of the page width holds a column of charts
    for half in (charts[:, : WIDTH // 2], charts[:, WIDTH // 2:]):
        assert np.any(np.all(half == rgb(PALETTE[0]), axis=2))


def test_a_scoped_metric_is_charted_as_a_reader_sees_it(tmp_path: Path):
    """agent-suite's runs record a flat accuracy, n and pass rate, and a scoped eval/accuracy rising from 0.8 to 0.9
    on its valid values (an invalid 0.1 and 0.3 left out): five charts, two a row, eval/accuracy the fourth (right,
    second row). Its line rises across the whole plot; every other line is flat: a few rows of pixels each."""
    from tests.report.test_report_cli import scoped_runs

    db, page = tmp_path / "l.db", tmp_path / "report.html"
    scoped_runs(db)
    ok("report", "--log", db, "--out", page)
    drawn = np.all(screenshot(page, tmp_path)[:, :, :3] == rgb(PALETTE[0]), axis=2)
    left = np.nonzero(drawn[:, : WIDTH // 2].any(axis=1))[0]  # pass_rate, accuracy, n: flat
    right = np.nonzero(drawn[:, WIDTH // 2:].any(axis=1))[0]  # mean_score flat; eval/accuracy rising
    assert len(left) and len(right)
    assert left.max() > right.max(), "a fifth chart (n) below the right column's last"
    assert len(right) > 2 * len(left), (len(right), len(left))  # the rising line spans its plot's height
