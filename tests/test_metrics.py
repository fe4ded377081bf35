"""Unit tests of dspfusion.metrics: API and input handling, hand-computed values, independent slow
re-computations of the vectorised code, and the ``dspfusion metrics`` command. Calibration against golden
reference values is in test_metrics_calibration.py."""
from __future__ import annotations

import csv
import importlib
import math

import cv2
import numpy as np
import pytest
from scipy.signal import convolve2d

from dspfusion.cli import main
from dspfusion.errors import UserError
from dspfusion.metrics import (METRICS, CONVENTIONS, average_gradient, correlation_coefficient, entropy, evaluate,
                               mse, mutual_information, nabf, niqe, piqe, psnr, qabf, resolve_metrics, scd,
                               spatial_frequency, ssim, standard_deviation, vif, vifp)
from dspfusion.metrics.images import MATLAB_GREY_WEIGHTS, to_grey

_matlab = importlib.import_module("dspfusion.metrics._matlab")
_qabf_mod = importlib.import_module("dspfusion.metrics.qabf")
_structural = importlib.import_module("dspfusion.metrics.structural")


def scene(seed: int, shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    """Smooth random 'scene' with integer grey levels 0-255 (float64)."""
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 255, shape), (0, 0), 3)
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return np.round(x)


@pytest.fixture(scope="module")
def triple() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = scene(1), scene(2)
    return np.round(0.5 * a + 0.5 * b), a, b


# ------------------------------------------------------------------------------------------ registry

EXPECTED_DIRECTION = {"EN": True, "SD": True, "SF": True, "AG": True, "MI": True, "CC": True, "SCD": True,
                      "VIF": True, "Qabf": True, "Nabf": False, "SSIM": True, "PSNR": True, "MSE": False,
                      "NIQE": False, "PIQE": False}


def test_registry_directions_and_docstrings() -> None:
    assert set(METRICS) == set(EXPECTED_DIRECTION)
    for name, m in METRICS.items():
        assert m.higher_is_better is EXPECTED_DIRECTION[name], name
        doc = m.function.__doc__ or ""
        for word in ("Formula", "Reference", "Scale", "Direction"):
            assert word in doc, f"{name}: docstring lacks {word}"
        assert ("higher is better (↑)" in doc) is m.higher_is_better, name
        assert ("lower is better (↓)" in doc) is (not m.higher_is_better), name
        for option in m.options:
            assert hasattr(CONVENTIONS["tang"], option), option


def test_resolve_metrics() -> None:
    assert resolve_metrics(None)[0] == "EN" and "NIQE" not in resolve_metrics(None)
    assert resolve_metrics("all") == list(METRICS)
    assert resolve_metrics("qabf, vif,Qabf") == ["Qabf", "VIF"]
    with pytest.raises(ValueError, match="unknown metric"):
        resolve_metrics(["FMI"])
    with pytest.raises(ValueError, match="unknown metric convention"):
        evaluate(scene(1), scene(1), scene(1), convention="vifb")


# ------------------------------------------------------------------------------------------ input handling

def test_matlab_grey_weights() -> None:
    # the constants MathWorks documents for rgb2gray
    np.testing.assert_allclose(MATLAB_GREY_WEIGHTS, [0.298936021293775, 0.587043074451121, 0.114020904255103],
                               atol=1e-14)


def test_grey_conversion_modes() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    m = to_grey(rgb, "matlab")[0]
    o = to_grey(rgb, "opencv")[0]
    assert list(m[:3]) == [76, 150, 29]  # 76.229, 149.696, 29.075 rounded
    assert list(o[:3]) == [76, 150, 29]  # 76.245, 149.685, 29.07
    assert m[3] == 18 and o[3] == 18  # 18.13 / 18.15
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(to_grey(np.dstack([grey] * 3), "matlab"), grey)  # R=G=B is the identity
    assert np.array_equal(to_grey(np.dstack([grey] * 3), "opencv"), grey)


def test_evaluate_accepts_paths_and_arrays(tmp_path, triple) -> None:
    f, a, b = triple
    paths = []
    for name, img in (("f", f), ("a", a), ("b", b)):
        p = tmp_path / f"{name}.png"
        cv2.imwrite(str(p), np.dstack([img.astype(np.uint8)] * 3))  # 3-channel R=G=B, like the TNO files
        paths.append(p)
    from_arrays = evaluate(f.astype(np.uint8), a.astype(np.uint8), b.astype(np.uint8))
    from_paths = evaluate(*paths)
    from_float = evaluate(f + 0.2, a - 0.3, b)  # floats on 0-255 are rounded like a saved PNG
    assert from_arrays == from_paths == from_float
    assert list(from_arrays) == list(resolve_metrics(None))


def test_evaluate_rejects_bad_input(tmp_path, triple) -> None:
    f, a, b = triple
    with pytest.raises(UserError, match="0-255"):
        evaluate(f / 255.0, a, b)
    with pytest.raises(UserError, match="size mismatch"):
        evaluate(f, a[:-1], b)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot be decoded"):
        evaluate(bad, a, b)
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), (a * 257).astype(np.uint16))
    with pytest.raises(UserError, match="8 bits"):
        evaluate(deep, a, b)
    with pytest.raises(UserError, match="outside 0-255"):
        evaluate(f, (a * 257).astype(np.uint16), b)
    with pytest.raises(UserError, match="far outside"):
        evaluate(f * 4.0, a, b)
    with pytest.raises(UserError, match="need both sources"):
        evaluate(f, None, b, metrics=["MI"])
    assert set(evaluate(f, None, None, metrics=["EN", "SD"])) == {"EN", "SD"}  # no-reference: no sources needed


def test_reference_images_replace_the_inputs(triple) -> None:
    f, a, b = triple
    noisy_a = np.clip(a + np.random.default_rng(3).normal(0, 20, a.shape), 0, 255)
    clean = evaluate(f, a, b)
    with_refs = evaluate(f, noisy_a, np.zeros_like(b), ref_ir=a, ref_vi=b)
    assert with_refs == clean
    one_ref = evaluate(f, noisy_a, b, ref_ir=a, metrics=["VIF", "MI"])
    assert one_ref == {k: clean[k] for k in ("VIF", "MI")}
    assert evaluate(f, noisy_a, b)["VIF"] != clean["VIF"]


# ------------------------------------------------------------------------------------------ hand-computed values

def test_entropy_and_mutual_information() -> None:
    levels = np.arange(256, dtype=np.float64).reshape(16, 16)
    assert entropy(np.full((8, 8), 7.0)) == 0.0
    assert entropy(levels) == pytest.approx(8.0, abs=1e-12)
    f = scene(4)
    h = entropy(f)
    # MI(F, F) = H(F); no grey level reaches 254 after halving, so the MATLAB merge changes nothing
    g = np.round(f / 2)
    assert mutual_information(g, g, g, merge_254_255=False) == pytest.approx(2 * entropy(g), abs=1e-12)
    assert mutual_information(g, g, g) == mutual_information(g, g, g, merge_254_255=False)
    bits = mutual_information(f, scene(5), scene(6), merge_254_255=False)
    nats = mutual_information(f, scene(5), scene(6), log_base=math.e, merge_254_255=False)
    assert nats == pytest.approx(bits * math.log(2), rel=1e-12)
    # 254 and 255 in F and A: merging them in the joint histogram only (not the marginals) raises MI
    x = np.array([[254.0, 255.0, 10.0, 254.0], [255.0, 10.0, 254.0, 10.0]])
    assert mutual_information(x, x, x) > mutual_information(x, x, x, merge_254_255=False)
    assert h > 0


def test_statistics_by_hand() -> None:
    assert standard_deviation(np.array([[0.0, 10.0]])) == 5.0
    # T1 bug: uint8(F - mean) clips negatives to 0, the square saturates at 255
    assert standard_deviation(np.array([[0.0, 10.0]]), uint8_saturate=True) == pytest.approx(math.sqrt(12.5))
    assert standard_deviation(np.array([[0.0, 40.0]]), uint8_saturate=True) == pytest.approx(math.sqrt(127.5))
    sq = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert spatial_frequency(sq) == pytest.approx(math.sqrt(5.0))
    assert spatial_frequency(sq, unit_scale=True) == pytest.approx(math.sqrt(5.0) / 255)
    h, w = 6, 9
    ramp = np.tile(3.0 * np.arange(w), (h, 1))
    assert average_gradient(ramp, normalisation="mean") == pytest.approx(3 / math.sqrt(2))
    assert average_gradient(ramp) == pytest.approx(h * w * 3 / math.sqrt(2) / ((h - 1) * (w - 1)))
    f, a, b = scene(7), scene(8), scene(9)
    assert correlation_coefficient(f, f, f) == pytest.approx(1.0)
    r = np.corrcoef
    assert correlation_coefficient(f, a, b) == pytest.approx((r(a.ravel(), f.ravel())[0, 1]
                                                              + r(b.ravel(), f.ravel())[0, 1]) / 2)
    assert scd(f, a, b) == pytest.approx(r((f - b).ravel(), a.ravel())[0, 1] + r((f - a).ravel(), b.ravel())[0, 1])


def test_mse_and_psnr_by_hand() -> None:
    f, a, b = np.full((4, 4), 10.0), np.zeros((4, 4)), np.full((4, 4), 20.0)
    assert mse(f, a, b, scale="255") == 100.0
    assert mse(f, a, b) == pytest.approx(100.0 / 255**2)
    assert psnr(f, a, b) == pytest.approx(20 * math.log10(255 / math.sqrt(100 / 255**2)))  # true PSNR + 48.13
    assert psnr(f, a, b, kind="cddfuse") == pytest.approx(0.0)  # peak = max(F) = 10, MSE 100
    assert psnr(f, f, f) == math.inf


def test_identical_images() -> None:
    a = scene(10)
    assert vifp(a, a) == pytest.approx(1.0, abs=1e-6)
    assert vif(a, a, a) == pytest.approx(2.0, abs=1e-6)
    assert ssim(a, a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, a, a, kind="skimage", reduce="sum") == pytest.approx(2.0, abs=1e-6)
    assert nabf(a, a, a) == 0.0  # no pixel where F's edges exceed both sources'
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 10, a.shape).round(), 0, 255)
    assert nabf(noisy, a, a) > 0.01  # artefacts added by "fusion" are detected


# ------------------------------------------------------------------------------------------ independent re-computation

def _fspecial(n: int, sigma: float) -> np.ndarray:
    x = np.arange(n) - (n - 1) / 2
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def _vifp_slow(ref: np.ndarray, dist: np.ndarray) -> float:
    """vifp_mscale with 2-D convolve2d and the special cases as explicit masks (the reference's structure)."""
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        win = _fspecial(n, n / 5)
        if scale > 1:
            ref = convolve2d(ref, win, mode="valid")[::2, ::2]
            dist = convolve2d(dist, win, mode="valid")[::2, ::2]
        mu1, mu2 = convolve2d(ref, win, mode="valid"), convolve2d(dist, win, mode="valid")
        s1 = np.maximum(convolve2d(ref * ref, win, mode="valid") - mu1**2, 0)
        s2 = np.maximum(convolve2d(dist * dist, win, mode="valid") - mu2**2, 0)
        s12 = convolve2d(ref * dist, win, mode="valid") - mu1 * mu2
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10] = 0
        sv[s1 < 1e-10] = s2[s1 < 1e-10]
        s1[s1 < 1e-10] = 0
        g[s2 < 1e-10] = 0
        sv[s2 < 1e-10] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return num / den


def test_vif_matches_direct_2d_convolution() -> None:
    ref, dist = scene(11, (70, 90)), scene(12, (70, 90))
    dist[:20, :20] = 128  # flat patch: exercises the sigma2 < 1e-10 branch
    assert vifp(ref, dist) == pytest.approx(_vifp_slow(ref, dist), abs=1e-10)


def test_qabf_matches_direct_loops() -> None:
    f, a, b = scene(13, (40, 50)), scene(14, (40, 50)), scene(15, (40, 50))
    a[:10, :10] = 50  # flat: zero gradients, sx == 0 angles, G == gF == 0
    f[:10, :10] = 50
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])

    def arr(img):
        sx, sy = convolve2d(img, h3, mode="same"), convolve2d(img, h1, mode="same")
        g = np.sqrt(sx**2 + sy**2)
        ang = np.array([[math.pi / 2 if x == 0 else math.atan(y / x) for x, y in zip(rx, ry)]
                        for rx, ry in zip(sx, sy)])
        return g, ang

    def q(gx, ax, gf, af):
        out = np.zeros_like(gx)
        for idx in np.ndindex(gx.shape):
            G = gf[idx] / gx[idx] if gx[idx] > gf[idx] else (gf[idx] if gx[idx] == gf[idx] else gx[idx] / gf[idx])
            A = 1 - abs(ax[idx] - af[idx]) / (math.pi / 2)
            out[idx] = 0.9994 / (1 + math.exp(-15 * (G - 0.5))) * 0.9879 / (1 + math.exp(-22 * (A - 0.8)))
        return out

    (ga, aa), (gb, ab), (gf, af) = arr(a), arr(b), arr(f)
    expected = np.sum(q(ga, aa, gf, af) * ga + q(gb, ab, gf, af) * gb) / np.sum(ga + gb)
    assert qabf(f, a, b) == pytest.approx(expected, abs=1e-12)
    # on [0,1] data the value depends on round-off; the conv2-order emulation stays close to the exact one
    assert qabf(f, a, b, unit_scale=True) == pytest.approx(expected, abs=5e-2)
    sx, sy = _qabf_mod._sobel_conv2(a, unit_scale=True)
    np.testing.assert_allclose(sx, convolve2d(a / 255, h3, mode="same"), atol=1e-14)
    np.testing.assert_allclose(sy, convolve2d(a / 255, h1, mode="same"), atol=1e-14)


def test_qabf_terms_recombine_to_qabf() -> None:
    """qabf_terms splits Qabf by source: w·Q_IR + (1 − w)·Q_VI is Qabf; a copy of IR keeps all of IR's edges."""
    f, a, b = scene(16, (40, 50)), scene(17, (40, 50)), scene(18, (40, 50))
    t = _qabf_mod.qabf_terms(f, a, b)
    assert t["ir_weight"] * t["ir"] + (1 - t["ir_weight"]) * t["vi"] == pytest.approx(qabf(f, a, b), abs=1e-12)
    copy = _qabf_mod.qabf_terms(a, a, b)
    assert copy["ir"] > 0.95 > copy["vi"] and copy["ir_weight"] == pytest.approx(t["ir_weight"])


def test_matlab_ssim_interior_matches_skimage_gaussian() -> None:
    from skimage.metrics import structural_similarity

    x, y = scene(16), scene(17)
    ours = _structural._ssim_map_matlab(x, y, dynamic_range=1.0)
    _, theirs = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                      data_range=1.0, full=True)
    np.testing.assert_allclose(ours[5:-5, 5:-5], theirs[5:-5, 5:-5], atol=1e-9)  # borders: replicate vs reflect


def test_imresize_reproduces_linear_ramps_and_constants() -> None:
    ramp = np.tile(np.arange(1, 65, dtype=np.float64), (48, 1))  # value = 1-based column index
    half = _matlab.imresize(ramp, 0.5)
    assert half.shape == (24, 32)
    centres = 2 * np.arange(1, 33) - 0.5  # MATLAB maps output x to input u = x/scale + 0.5(1 - 1/scale)
    np.testing.assert_allclose(half[:, 3:-3], np.tile(centres[3:-3], (24, 1)), atol=1e-12)
    np.testing.assert_allclose(_matlab.imresize(np.full((30, 40), 7.0), 0.5), 7.0, atol=1e-12)


def test_no_reference_metrics_basic() -> None:
    natural = scene(18, (200, 200))
    noisy = np.clip(natural + np.random.default_rng(1).normal(0, 25, natural.shape), 0, 255).round()
    assert niqe(noisy) > niqe(natural)
    assert piqe(np.full((64, 64), 90.0)) == 100.0  # no active block: (0 + 1)/(0 + 1)
    assert 0.0 <= piqe(natural) <= 100.0
    odd = natural[:50, :70]  # sizes that are not multiples of 16 are padded symmetrically (to 64x80)
    assert piqe(odd) == pytest.approx(piqe(np.pad(odd, ((0, 14), (0, 10)), mode="symmetric")), abs=1e-12)
    with pytest.raises(UserError, match="96"):
        niqe(natural[:100, :100])


# ------------------------------------------------------------------------------------------ CLI

def _write(path, img) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img.astype(np.uint8))


def test_cli_metrics_folder(tmp_path, capsys) -> None:
    for i in range(3):
        a, b = scene(20 + i), scene(30 + i)
        _write(tmp_path / "ir" / f"{i:02d}.png", a)
        _write(tmp_path / "vi" / f"{i:02d}.jpg" if i == 1 else tmp_path / "vi" / f"{i:02d}.png", b)
        _write(tmp_path / "fused" / f"{i:02d}.png", np.round((a + b) / 2))
    _write(tmp_path / "fused" / "03.png", scene(40))  # no sources
    (tmp_path / "fused" / "04.png").write_bytes(b"corrupt")
    _write(tmp_path / "ir" / "04.png", scene(41))
    _write(tmp_path / "vi" / "04.png", scene(42))
    out = tmp_path / "res" / "m.csv"
    args = ["metrics", "--fused", str(tmp_path / "fused"), "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"),
            "--csv", str(out), "--quiet"]
    assert main(args) == 1  # some skipped
    captured = capsys.readouterr()
    assert "3 image(s) evaluated, 2 skipped" in captured.out
    assert "Nabf ↓" in captured.out and "VIF ↑" in captured.out
    assert "03.png" in captured.err and "04.png" in captured.err
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == ["00.png", "01.png", "02.png"]
    direct = evaluate(tmp_path / "fused" / "01.png", tmp_path / "ir" / "01.png", tmp_path / "vi" / "01.jpg")
    assert float(rows[1]["VIF"]) == pytest.approx(direct["VIF"], rel=1e-9)
    # never overwrite silently
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--convention", "cddfuse", "--metrics", "MI,SSIM"]) == 1
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["image", "MI", "SSIM"] and float(rows[0]["SSIM"]) > 1.0  # summed over sources
    assert not list(out.parent.glob(".*.tmp"))


def test_cli_metrics_single_files_and_refs(tmp_path, capsys) -> None:
    a, b = scene(50, (200, 200)), scene(51, (200, 200))
    f = np.round((a + b) / 2)
    noisy = np.clip(b + np.random.default_rng(2).normal(0, 20, b.shape), 0, 255)
    for name, img in (("a", a), ("b", b), ("f", f), ("bn", noisy)):
        _write(tmp_path / f"{name}.png", img)
    base = ["metrics", "--fused", str(tmp_path / "f.png"), "--ir", str(tmp_path / "a.png")]
    assert main([*base, "--vi", str(tmp_path / "bn.png"), "--ref-vi", str(tmp_path / "b.png"),
                 "--csv", str(tmp_path / "r.csv")]) == 0
    assert "clean references: --ref-vi" in capsys.readouterr().out
    with_ref = next(csv.DictReader((tmp_path / "r.csv").open()))
    assert float(with_ref["VIF"]) == pytest.approx(evaluate(f, a, b)["VIF"], rel=1e-9)
    assert main(["metrics", "--fused", str(tmp_path / "f.png"), "--metrics", "NIQE,PIQE,EN"]) == 0
    assert "NIQE ↓" in capsys.readouterr().out
    assert main(["metrics", "--fused", str(tmp_path / "f.png"), "--metrics", "VIF"]) == 2  # needs sources
    assert main([*base, "--vi", str(tmp_path)]) == 2  # file and folder mixed
