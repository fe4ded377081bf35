"""``dspfusion serve``: the processing behind the web app (no browser), and one end-to-end run in headless Chromium.

The browser test needs Gradio, Selenium and Debian's ``chromium`` + ``chromium-driver`` (``.ci/run`` installs
them); it skips, saying which is missing, otherwise.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry or version check from the tests

from dspfusion.errors import UserError  # noqa: E402
from dspfusion.example import make_example_pair  # noqa: E402
from dspfusion.io import write_image  # noqa: E402
from dspfusion.serve import NONE, check_upload, fuse_files, make_handler, process  # noqa: E402

H, W = 96, 128


@pytest.fixture(scope="module")
def fuser():
    import dspfusion

    return dspfusion.load(device="cpu")


@pytest.fixture(scope="module")
def pair():
    return make_example_pair(H, W)


@pytest.fixture
def pair_files(tmp_path, pair):
    ir, vi = pair
    return write_image(tmp_path / "ir.png", ir), write_image(tmp_path / "vi.png", vi)


# ------------------------------------------------------------------------------------------ processing (no browser)


def test_fuse_files_example_pair(fuser, pair_files):
    r = fuse_files(fuser, *pair_files)
    assert r.fused.shape == (H, W, 3) and r.fused.dtype == np.uint8
    assert r.ir.shape == (H, W) and r.vi.shape == (H, W, 3)
    assert set(r.detected) == {"ir", "vi"} and abs(sum(r.detected["vi"].values()) - 1) < 1e-3
    md = r.report(fuser.info, fuser.device)
    assert f"{W}×{H}" in md and " s" in md and "| IR |" in md and "| VI |" in md and "degradation applied:** none" in md


def test_degradation_applied_and_reproducible(fuser, pair):
    ir, vi = pair
    a = process(fuser, ir, vi, vi_degradation="LL", ir_degradation="SN", seed=3)
    b = process(fuser, ir, vi, vi_degradation="LL", ir_degradation="SN", seed=3)
    assert a.vi.mean() < vi.mean() - 5  # low light darkens the VI input
    assert not np.array_equal(a.ir, ir)  # stripe noise changed the IR input
    assert np.array_equal(a.vi, b.vi) and np.array_equal(a.ir, b.ir)  # same seed, same inputs
    assert a.applied["vi"]["type"] == "LL" and a.applied["ir"]["type"] == "SN"
    md = a.report()
    assert "VI LL (seed 3" in md and "IR SN (seed 3" in md
    c = process(fuser, ir, vi, vi_degradation=NONE, ir_degradation="none", seed=3)
    assert np.array_equal(c.vi, vi) and np.array_equal(c.ir, ir)
    with pytest.raises(UserError, match="unknown VI degradation"):
        process(fuser, ir, vi, vi_degradation="fog")


def test_pixel_limit(fuser, pair_files):
    with pytest.raises(UserError, match=r"IR image is too large: 128×96 .* limit is 10,000 pixels.*Downscale"):
        fuse_files(fuser, *pair_files, max_pixels=10_000)
    assert check_upload(pair_files[1], "VI", max_pixels=W * H) == (W, H)


def test_file_size_limit(fuser, tmp_path, pair_files):
    big = tmp_path / "noise.png"  # incompressible: ~36 KB
    write_image(big, np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8))
    with pytest.raises(UserError, match=r"VI image is too large: \d\d\.\d KB, the limit is 10\.2 KB"):
        fuse_files(fuser, pair_files[0], big, max_upload_mb=0.01)


def test_unreadable_and_missing_uploads(fuser, tmp_path, pair_files):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(UserError, match="not a readable image"):
        fuse_files(fuser, junk, pair_files[1])
    with pytest.raises(UserError, match="no VI image.*built-in example"):
        fuse_files(fuser, pair_files[0], None)


def test_size_mismatch_and_resize(fuser, tmp_path, pair):
    ir, vi = pair
    ir_big = write_image(tmp_path / "ir_big.png", make_example_pair(2 * H, 2 * W)[0])
    vi_p = write_image(tmp_path / "vi.png", vi)
    with pytest.raises(UserError, match=r"sizes differ: IR is 256×192, VI is 128×96.*Resize IR to VI"):
        fuse_files(fuser, ir_big, vi_p)
    r = fuse_files(fuser, ir_big, vi_p, resize_ir_to_vi=True)
    assert r.fused.shape == (H, W, 3) and r.ir.shape == (H, W)
    assert "IR resized from 256×192 to 128×96" in r.report()


def test_handler_shows_errors_in_the_page(fuser, pair_files):
    on_fuse = make_handler(fuser, max_upload_mb=20, max_pixels=10_000)
    fused, ir, vi, md = on_fuse(*pair_files, NONE, NONE, 0, False)
    assert fused is None and ir is None and vi is None
    assert md.startswith("**Error:**") and "limit is 10,000 pixels" in md
    fused, _, _, md = make_handler(fuser)(*pair_files, "Blur", NONE, None, False)  # empty seed box → 0
    assert fused.shape == (H, W, 3) and "VI Blur (seed 0" in md


def test_build_app_and_missing_gradio(fuser, monkeypatch):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'dspfusion[serve]')")
    import gradio as gr

    from dspfusion.serve import build_app

    app = build_app(fuser, max_upload_mb=5, max_pixels=1000)
    assert isinstance(app, gr.Blocks)
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio → ImportError
    with pytest.raises(UserError, match=r"pip install 'dspfusion\[serve\]'"):
        build_app(fuser)


def test_cli_registers_serve():
    from dspfusion.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "0", "--max-pixels", "100"])
    assert args.command == "serve" and args.host == "127.0.0.1" and args.share is False and args.max_pixels == 100


# ------------------------------------------------------------------------------------------ end to end, in a browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside Gradio
def test_browser_upload_two_images_get_fused_image(fuser, tmp_path, pair):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'dspfusion[serve]')")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install 'selenium>=4.10')")
    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
            pytest.skip(f"{exe} not found: install Debian's {pkg} (apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from dspfusion.serve import launch

    ir, vi = pair
    ir_p, vi_p = write_image(tmp_path / "ir.png", ir), write_image(tmp_path / "vi.png", vi)
    ir_bad = write_image(tmp_path / "ir_big.png", make_example_pair(2 * H, 2 * W)[0])
    port = _free_port()
    app = launch(fuser, host="127.0.0.1", port=port, block=False, quiet=True)
    driver = None
    try:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1200"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        wait = WebDriverWait(driver, 120)
        driver.get(f"http://127.0.0.1:{port}/")

        def upload(elem_id: str, path: Path) -> None:
            box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]"))
            box.send_keys(str(path))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{elem_id} img"))  # preview = upload finished

        def fused_src(d):
            imgs = d.find_elements(By.CSS_SELECTOR, "#fused img")
            return imgs and imgs[0].get_attribute("src")

        upload("ir_input", ir_p)
        upload("vi_input", vi_p)
        driver.find_element(By.ID, "fuse_button").click()
        src = wait.until(fused_src)
        status = driver.find_element(By.ID, "status").text
        assert "Fused" in status and "128×96" in status and "IR" in status and "VI" in status, status
        with urllib.request.urlopen(src, timeout=30) as resp:  # the fused image the page shows
            (tmp_path / "fused_from_page.png").write_bytes(resp.read())
        from PIL import Image

        with Image.open(tmp_path / "fused_from_page.png") as im:
            assert im.size == (W, H) and im.mode == "RGB"
            got = np.asarray(im)
        assert np.array_equal(got, fuser.fuse(ir, vi))  # png: lossless, the very fusion

        # a refused pair: the page says why (and clears the old result)
        driver.find_element(By.CSS_SELECTOR, "#ir_input button[aria-label='Remove Image']").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#ir_input img"))
        upload("ir_input", ir_bad)
        driver.find_element(By.ID, "fuse_button").click()
        wait.until(lambda d: "sizes differ" in d.find_element(By.ID, "status").text)
        assert "Resize IR to VI" in driver.find_element(By.ID, "status").text
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#fused img"))

        # the built-in example: one click fills both inputs and fuses them
        driver.find_element(By.ID, "example_button").click()
        wait.until(lambda d: "Fused a 320×240" in d.find_element(By.ID, "status").text)
        assert wait.until(fused_src)
    finally:
        if driver is not None:
            driver.quit()
        app.close()
    t0 = time.time()
    while time.time() - t0 < 10:  # the port is free again: the server really stopped
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the server still listens on port {port} after app.close()")
