"""Losses, two-stage training, exact resume and DDP sync on a tiny model and procedural data (no shared data)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dspfusion.checkpoint import load_model
from dspfusion.errors import UserError
from dspfusion.example import make_example_pair
from dspfusion.io import write_image
from dspfusion.training.config import TrainConfig
from dspfusion.training.losses import contrastive_loss, fusion_loss, info_nce
from dspfusion.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    for i in range(6):
        ir, vi = make_example_pair(64, 80, seed=i)
        write_image(root / "ir" / f"{i:02d}.png", ir)
        write_image(root / "vi" / f"{i:02d}.png", vi)
    return root


def tiny_cfg(data: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig.load(REPO / "configs" / "tiny_test.yaml")
    return base.replace(train_roots=[str(data)], out_dir=str(out), **kw)


def test_fusion_loss_prefers_the_better_fusion():
    torch.manual_seed(0)
    ir, vi = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    ir = ir.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    good = torch.where(ir.mean(1, keepdim=True) > vi.mean(1, keepdim=True), ir, vi)  # the intensity target M
    bad = torch.full_like(vi, 0.5)
    l_good, terms = fusion_loss(good, ir, vi)
    l_bad, _ = fusion_loss(bad, ir, vi)
    assert l_good < l_bad
    assert terms["int"] == pytest.approx(0.0, abs=1e-6)
    good.requires_grad_(True)
    fusion_loss(good, ir, vi)[0].backward()
    assert good.grad.abs().sum() > 0


def test_info_nce_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0]])
    n = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])
    want = -torch.log(torch.exp(torch.tensor(10.0)) / (torch.exp(torch.tensor(10.0)) + 1 + torch.exp(torch.tensor(-10.0))))
    assert info_nce(a, p, n, tau=0.1).item() == pytest.approx(want.item(), rel=1e-3)


def test_contrastive_loss_lower_when_types_cluster():
    torch.manual_seed(0)
    d = 8
    t_ir, t_vi = torch.eye(d)[0:1], torch.eye(d)[1:2]
    pos_ir, pos_vi = t_ir[:, None].repeat(1, 3, 1), t_vi[:, None].repeat(1, 3, 1)
    neg = torch.eye(d)[2:8][None]
    clustered = contrastive_loss(t_ir, t_vi, pos_ir, pos_vi, neg)
    random = contrastive_loss(t_ir, t_vi, torch.randn(1, 3, d), torch.randn(1, 3, d), neg)
    assert clustered < random


def test_negatives_option_reaches_the_dataset(data, tmp_path):
    from dspfusion.errors import UserError

    trainer = Trainer(tiny_cfg(data, tmp_path / "run", negatives="shuffled"), resume=False, progress=False)
    trainer.stage = 1
    assert trainer._datasets()[0].negatives == "shuffled"
    with pytest.raises(UserError, match="negatives: expected 'official' or 'shuffled'"):
        TrainConfig.load(None, ["negatives=random"])


def test_root_repeat_option_reaches_the_dataset(data, tmp_path):
    from dspfusion.errors import UserError

    trainer = Trainer(tiny_cfg(data, tmp_path / "run2", root_repeat={data.name: 2}), resume=False, progress=False)
    trainer.stage = 1
    assert len(trainer._datasets()[0]) == 2 * 6  # the fixture's 6 pairs, each twice
    for bad in ("root_repeat={'a': 0}", "root_repeat={'a': 1.5}", "root_repeat=[1]"):
        with pytest.raises(UserError, match="root_repeat"):
            TrainConfig.load(None, [bad])


def test_validation_pairs_of_a_trained_folder_are_held_out(data, tmp_path):
    from dspfusion.errors import UserError

    cfg = tiny_cfg(data, tmp_path / "run3", val_roots=[str(data)], val_items=2)
    trainer = Trainer(cfg, resume=False, progress=False)
    trainer.stage = 1
    train, val = trainer._datasets()
    val_names = {val.pairs[j].name for j in val.index}
    assert len(val_names) == 2 and len(train) == 6 - 2
    assert not val_names & {train.pairs[j].name for j in train.index}
    both = Trainer(cfg.replace(hold_out_val=False), resume=False, progress=False)
    both.stage = 1
    assert len(both._datasets()[0]) == 6  # lite39/lite40's behaviour: trained on the validation pairs too
    with pytest.raises(UserError, match="hold_out_val"):
        TrainConfig.load(None, ["hold_out_val=1"])


def test_type_weights_grey_vi_and_sensor_noise_reach_the_dataset(data, tmp_path):
    from dspfusion.errors import UserError

    trainer = Trainer(tiny_cfg(data, tmp_path / "run3", type_weights={"vi_Blur": 2.0, "ir_LC": 0.5}), resume=False,
                      progress=False)
    trainer.stage = 1
    assert trainer._datasets()[0].type_weights == {"vi_Blur": 2.0, "ir_LC": 0.5}
    assert TrainConfig.load(None, ["type_weights={'vi_OE': 3}"]).type_weights == {"vi_OE": 3}
    grey = Trainer(tiny_cfg(data, tmp_path / "run4", grey_vi=0.25), resume=False, progress=False)
    grey.stage = 1
    assert grey._datasets()[0].grey_vi == 0.25
    with pytest.raises(UserError, match="grey_vi"):
        TrainConfig.load(None, ["grey_vi=2"])
    assert TrainConfig.load(None, ["grey_vi_except=['LL']"]).grey_vi_except == ["LL"]
    with pytest.raises(UserError, match="grey_vi_except"):
        TrainConfig.load(None, ["grey_vi_except=['LC']"])
    assert TrainConfig.load(None, ["grey_vi_min_luma=0.2"]).grey_vi_min_luma == 0.2
    with pytest.raises(UserError, match="grey_vi_min_luma"):
        TrainConfig.load(None, ["grey_vi_min_luma=-1"])
    noisy = Trainer(tiny_cfg(data, tmp_path / "run5", sensor_noise=0.5, sensor_noise_sigma=[1.0, 2.0]), resume=False,
                    progress=False)
    noisy.stage = 1
    assert (noisy._datasets()[0].sensor_noise, noisy._datasets()[0].sensor_noise_sigma) == (0.5, (1.0, 2.0))
    assert TrainConfig.load(None, ["sensor_noise=0.3"]).sensor_noise == 0.3
    for bad, msg in (("sensor_noise=2", "sensor_noise"), ("sensor_noise_sigma=[3, 1]", "sensor_noise_sigma")):
        with pytest.raises(UserError, match=msg):
            TrainConfig.load(None, [bad])
    for bad, msg in (("type_weights={'LC': 2}", "unknown type 'LC'"), ("type_weights={'ir_LC': -1}", "number >= 0"),
                     ("type_weights=[1]", "expected a mapping")):
        with pytest.raises(UserError, match=msg):
            TrainConfig.load(None, [bad])


def _with_probe() -> dict:
    from dspfusion.config import get_preset

    return get_preset("tiny-official").replace(with_probe=True).to_dict()


def test_probe_loss_reaches_dpen_only_when_asked(data, tmp_path):
    """probe_dpen_weight > 0: the probe's cross-entropy also trains DPEN (through a detached copy of the probe, so
    the probe's own gradient is unchanged); 0: DPEN gets no gradient from it. dpen_lr_scale: DPEN's own rate."""
    from torch.utils.data import default_collate

    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import Stage1

    grads = {}
    for w in (0.0, 2.0):
        torch.manual_seed(0)
        t = Trainer(tiny_cfg(data, tmp_path / f"w{w}", model=_with_probe(), probe_dpen_weight=w), resume=False,
                    progress=False)
        assert t.model.probe is not None
        ds = t._datasets()[0]
        batch = default_collate([ds[i] for i in range(2)])
        s1 = Stage1(t.model, t.cfg, FusionLossWeights())
        _, logs = s1(batch)
        assert ("probe_dpen" in logs) == (w > 0)
        # the gradient of the probe terms alone: the same forward with the fusion and contrastive weights removed
        t.model.zero_grad(set_to_none=True)
        lq = torch.cat([batch["lq_ir"], batch["lq_vi"]])
        types = t.model.degradation(lq)[1]
        labels = {"ir": batch["label_ir"], "vi": batch["label_vi"]}
        B = batch["lq_ir"].shape[0]
        loss = sum(torch.nn.functional.cross_entropy(t.model.probe(x.detach(), m), labels[m])
                   for m, x in (("ir", types[:B]), ("vi", types[B:])))
        if w:
            loss = loss + w * sum(torch.nn.functional.cross_entropy(s1.probe_frozen(x, m), labels[m])
                                  for m, x in (("ir", types[:B]), ("vi", types[B:])))
        loss.backward()
        dpen = [p.grad for p in t.model.degradation.parameters()]
        grads[w] = (dpen, [p.grad.clone() for p in t.model.probe.parameters()])
        assert all(g is None for g in dpen) if w == 0 else any(g is not None and g.abs().sum() > 0 for g in dpen)
    for a, b in zip(grads[0.0][1], grads[2.0][1]):  # the detached copy adds nothing to the probe's gradient
        assert torch.allclose(a, b)
    # the option runs end to end and gives DPEN its own learning rate
    cfg = tiny_cfg(data, tmp_path / "run", model=_with_probe(), probe_dpen_weight=1.0, dpen_lr_scale=5.0,
                   stage1_iters=2, stage2_iters=1)
    t = Trainer(cfg, resume=False, progress=False)
    t.run()
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "probe_dpen" in log[0]
    for bad in ("probe_dpen_weight=-1", "dpen_lr_scale=0"):
        with pytest.raises(UserError, match=bad.split("=")[0]):
            TrainConfig.load(None, [bad])


def test_stage1_trains_a_two_scale_probe_on_each_crop_at_both_scales(data, tmp_path):
    """probe_scales (1.0, 0.5): Stage I feeds the probe each training crop's type vector beside that of the crop
    downscaled 2x (what diagnosis_features concatenates for a whole image, here one tile each), and a short run
    trains and saves such a probe."""
    from torch.utils.data import default_collate

    from dspfusion.config import get_preset
    from dspfusion.models.dspfusion import downscale
    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import Stage1

    model = get_preset("tiny-official").replace(with_probe=True, probe_scales=(1.0, 0.5)).to_dict()
    torch.manual_seed(0)
    t = Trainer(tiny_cfg(data, tmp_path / "probe2", model=model), resume=False, progress=False)
    batch = default_collate([t._datasets()[0][i] for i in range(2)])
    s1 = Stage1(t.model, t.cfg, FusionLossWeights())
    with torch.no_grad():
        t_vi = t.model.degradation(batch["lq_vi"])[1]
        f = s1.probe_features(t_vi, batch["lq_vi"])
        half = t.model.degradation(downscale(batch["lq_vi"], 0.5))[1]
    d = t_vi.shape[-1]
    assert f.shape == (2, 2 * d) and torch.equal(f[:, :d], t_vi) and torch.allclose(f[:, d:], half, atol=1e-6)
    _, logs = s1(batch)
    assert logs["probe"] > 0
    # validation measures the probe on what `diagnose` feeds it (both scales), as a model continued from the shipped
    # weights (three scales, refit post hoc) needs
    cfg = tiny_cfg(data, tmp_path / "run2", model=model, stage1_iters=2, stage2_iters=1, val_roots=[str(data)],
                   val_items=2, val_every=2)
    Trainer(cfg, resume=False, progress=False).run()
    from dspfusion.checkpoint import load_model

    loaded, _ = load_model(str(tmp_path / "run2" / "model.safetensors"))
    assert loaded.config.probe_scales == (1.0, 0.5) and loaded.probe.norm.normalized_shape == (2 * d,)
    val = (tmp_path / "run2" / "val.csv").read_text().splitlines()
    assert len(val) == 3 and "probe_acc_vi" in val[0]  # header, end of Stage I, end of Stage II


def test_grad_vector_term_asks_for_the_dominant_edge_polarity():
    """The optional signed-gradient term (ours, off by default) is zero when the fused luma has the dominant
    source's edges, and catches an inverted edge that the official magnitude-only gradient term cannot see."""
    from dspfusion.training.losses import FusionLossWeights

    torch.manual_seed(0)
    ir = torch.rand(1, 1, 24, 24).expand(-1, 3, -1, -1)  # all the edges are IR's
    vi = torch.full((1, 3, 24, 24), 0.5)
    assert "gvec" not in fusion_loss(ir, ir, vi)[1]
    w = FusionLossWeights(grad_vector=1.0)
    _, same = fusion_loss(ir, ir, vi, w)
    _, flipped = fusion_loss(1 - ir, ir, vi, w)
    assert same["gvec"] == pytest.approx(0.0, abs=1e-6) and flipped["gvec"] > 0.1
    assert flipped["grad"] == pytest.approx(same["grad"], abs=1e-5)  # |gradient| is the same for 1 - ir


def test_pyramid_term_asks_for_each_sources_edges_at_every_scale():
    """The optional Laplacian-pyramid detail term (ours, off by default) is zero for the source that holds all the
    detail, and prefers an image with both sources' edges (where each dominates) to either source alone, which
    the intensity term (brighter source per pixel) does not."""
    from dspfusion.training.losses import FusionLossWeights

    torch.manual_seed(0)
    ir = torch.rand(1, 1, 32, 32).expand(-1, 3, -1, -1)
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert "pyr" not in fusion_loss(ir, ir, flat)[1]
    w = FusionLossWeights(pyramid=1.0)
    assert fusion_loss(ir, ir, flat, w)[1]["pyr"] == pytest.approx(0.0, abs=1e-6)
    assert fusion_loss(flat, ir, flat, w)[1]["pyr"] > 0.05

    # IR's texture on the left, VI's on the right: the composite keeps both and scores far lower than either
    left = torch.zeros(1, 1, 32, 32)
    left[..., :12] = 1.0
    ir_t = (0.5 + 0.4 * (torch.rand(1, 1, 32, 32) - 0.5) * left).expand(-1, 3, -1, -1)
    vi_t = (0.5 + 0.4 * (torch.rand(1, 1, 32, 32) - 0.5) * left.flip(-1)).expand(-1, 3, -1, -1)
    both = ir_t + vi_t - 0.5
    l_both, l_ir, l_vi = (fusion_loss(f, ir_t, vi_t, w)[1]["pyr"] for f in (both, ir_t, vi_t))
    assert l_both < 0.5 * min(l_ir, l_vi)


def test_undershoot_term_counts_only_edges_weaker_than_the_target():
    """The one-sided pyramid term (``undershoot``, ours, off by default) is zero for the source that holds all the
    detail and for a stronger copy of it, and positive for a weaker copy, while the symmetric detail term charges
    both copies; with both weights set it reuses the detail term's targets (the same value as alone)."""
    from dspfusion.training.losses import FusionLossWeights

    torch.manual_seed(0)
    tex = torch.rand(1, 1, 32, 32) - 0.5
    ir = (0.5 + 0.4 * tex).expand(-1, 3, -1, -1)
    weak, strong = ((0.5 + k * 0.4 * tex).expand(-1, 3, -1, -1) for k in (0.5, 1.5))
    flat = torch.full((1, 3, 32, 32), 0.5)
    w = FusionLossWeights(undershoot=1.0)
    assert "under" not in fusion_loss(ir, ir, flat)[1]
    assert fusion_loss(ir, ir, flat, w)[1]["under"] == pytest.approx(0.0, abs=1e-6)
    assert fusion_loss(weak, ir, flat, w)[1]["under"] > 0.02
    assert fusion_loss(strong, ir, flat, w)[1]["under"] == pytest.approx(0.0, abs=1e-6)
    w_pyr = FusionLossWeights(pyramid=1.0)
    assert fusion_loss(strong, ir, flat, w_pyr)[1]["pyr"] > 0.02
    assert "pyr" not in fusion_loss(weak, ir, flat, w)[1]
    both = FusionLossWeights(pyramid=1.0, undershoot=1.0)
    assert fusion_loss(weak, ir, flat, both)[1]["under"] == pytest.approx(fusion_loss(weak, ir, flat, w)[1]["under"])
    assert fusion_loss(weak, ir, flat, both)[1]["pyr"] > 0.02


def test_signed_undershoot_charges_detail_of_the_wrong_sign():
    """``undershoot_signed`` (ours) measures the shortfall along the target's sign: zero for the target and a
    stronger copy, positive for a weaker one (as ``undershoot``), and, unlike ``undershoot``, positive for detail of
    the same strength but the opposite sign, which costs more than no detail at all."""
    from dspfusion.training.losses import FusionLossWeights

    torch.manual_seed(0)
    tex = torch.rand(1, 1, 32, 32) - 0.5
    ir = (0.5 + 0.4 * tex).expand(-1, 3, -1, -1)
    weak, strong, flipped = ((0.5 + k * 0.4 * tex).expand(-1, 3, -1, -1) for k in (0.5, 1.5, -1.0))
    flat = torch.full((1, 3, 32, 32), 0.5)
    w = FusionLossWeights(undershoot_signed=1.0)
    assert "under_sgn" not in fusion_loss(ir, ir, flat)[1]
    assert fusion_loss(ir, ir, flat, w)[1]["under_sgn"] == pytest.approx(0.0, abs=1e-6)
    assert fusion_loss(strong, ir, flat, w)[1]["under_sgn"] == pytest.approx(0.0, abs=1e-6)
    assert fusion_loss(weak, ir, flat, w)[1]["under_sgn"] > 0.02
    l_flat = fusion_loss(flat, ir, flat, w)[1]["under_sgn"]
    l_flip = fusion_loss(flipped, ir, flat, w)[1]["under_sgn"]
    assert l_flip > 1.5 * l_flat > 0
    magnitude = FusionLossWeights(undershoot=1.0)
    assert fusion_loss(flipped, ir, flat, magnitude)[1]["under"] < 0.1 * l_flip


def test_undershoot_degraded_counts_only_samples_with_a_degraded_input():
    """``undershoot_degraded`` (ours) is the one-sided term on the samples whose IR or VI label is not "clean" (0):
    zero for a batch of clean samples, the batch-mean share of the full term otherwise, and the full term when the
    batch has no labels."""
    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import degraded_samples

    torch.manual_seed(0)
    tex = torch.rand(1, 1, 32, 32) - 0.5
    ir = (0.5 + 0.4 * tex).expand(2, 3, -1, -1)
    weak = (0.5 + 0.2 * tex).expand(2, 3, -1, -1)
    flat = torch.full((2, 3, 32, 32), 0.5)
    full = fusion_loss(weak, ir, flat, FusionLossWeights(undershoot=1.0))[1]["under"]
    w = FusionLossWeights(undershoot_degraded=1.0)
    b = {"label_ir": torch.tensor([0, 2]), "label_vi": torch.tensor([0, 0])}
    assert degraded_samples(b).tolist() == [False, True]
    assert degraded_samples({}) is None
    clean = {"label_ir": torch.tensor([0, 0]), "label_vi": torch.tensor([0, 0])}
    assert fusion_loss(weak, ir, flat, w, degraded_samples(clean))[1]["under_deg"] == pytest.approx(0.0, abs=1e-8)
    assert fusion_loss(weak, ir, flat, w, degraded_samples(b))[1]["under_deg"] == pytest.approx(full / 2, rel=1e-5)
    assert fusion_loss(weak, ir, flat, w)[1]["under_deg"] == pytest.approx(full, rel=1e-5)
    assert full > 0.02


def test_pyramid_window_chooses_by_local_band_energy_as_the_laplacian_baseline_does():
    """``pyramid_window`` (ours) chooses each band's source by its mean square over a window, the salience rule of
    our Laplacian baseline (same values inside the border); window 1 is the per-pixel |band| rule bit for bit, and
    a window changes the choice (and so the loss) around an isolated strong IR detail."""
    import kornia
    import numpy as np

    from dspfusion.baselines.fusion import _local_energy as baseline_energy
    from dspfusion.training.losses import FusionLossWeights, _local_energy, pyramid_detail_loss

    torch.manual_seed(0)
    band = torch.randn(1, 1, 24, 24)
    ours = _local_energy(band, 3)[0, 0, 1:-1, 1:-1].numpy()
    theirs = baseline_energy(band[0, 0].numpy(), 3)[1:-1, 1:-1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    assert torch.equal(_local_energy(band, 1), band.abs())

    vi = 0.5 + 0.2 * (torch.rand(1, 1, 32, 32) - 0.5)  # VI: texture everywhere
    ir = torch.full((1, 1, 32, 32), 0.5)
    ir[..., 8::16, 8::16] = 0.8  # IR: four isolated bright points
    f = torch.rand(1, 1, 32, 32)
    bands = [kornia.geometry.transform.build_laplacian_pyramid(y, 4)[:-1] for y in (f, ir, vi)]
    per_pixel = sum(
        torch.nn.functional.l1_loss(b_f, torch.where(b_i.abs() > b_v.abs(), b_i, b_v)) for b_f, b_i, b_v in zip(*bands)
    )
    assert float(pyramid_detail_loss(f, ir, vi)) == float(per_pixel)
    # F = VI keeps VI's texture where an IR point wins per pixel; a 5x5 window hands the point's neighbourhood to IR
    assert pyramid_detail_loss(vi, ir, vi, window=5) > 1.2 * pyramid_detail_loss(vi, ir, vi)
    w1, w5 = FusionLossWeights(pyramid=1.0), FusionLossWeights(pyramid=1.0, pyramid_window=5.0)
    rgb = [t.expand(-1, 3, -1, -1) for t in (vi, ir, vi)]
    assert fusion_loss(*rgb, w5)[1]["pyr"] == pytest.approx(float(pyramid_detail_loss(vi, ir, vi, window=5)), rel=1e-6)
    assert fusion_loss(*rgb, w5)[1]["pyr"] != fusion_loss(*rgb, w1)[1]["pyr"]


def test_pyramid_window_must_be_odd():
    for bad in (2, 1.5):
        with pytest.raises(UserError, match="pyramid_window"):
            TrainConfig.load(None, [f"loss_weights={{'pyramid': 1, 'pyramid_window': {bad}}}"])
    assert TrainConfig.load(None, ["loss_weights={'pyramid': 1, 'pyramid_window': 3}"]).loss_weights["pyramid_window"] == 3


def test_base_term_asks_for_the_mean_of_the_sources_coarse_brightness():
    """The optional pyramid base term (ours, off by default) is zero for the pixel-wise mean of two flat sources and
    for an image that differs from it only in fine detail, and grows with the coarse brightness offset; the
    intensity term instead asks for the brighter source."""
    from dspfusion.training.losses import FusionLossWeights

    dark, bright = torch.full((1, 3, 32, 32), 0.2), torch.full((1, 3, 32, 32), 0.8)
    mid = torch.full((1, 3, 32, 32), 0.5)
    w = FusionLossWeights(base=1.0)
    assert "base" not in fusion_loss(mid, bright, dark)[1]
    assert fusion_loss(mid, bright, dark, w)[1]["base"] == pytest.approx(0.0, abs=1e-6)
    checker = mid + 0.1 * (torch.arange(32).remainder(2).float() - 0.5)  # 1-px stripes: fine detail only
    assert fusion_loss(checker, bright, dark, w)[1]["base"] < 0.01
    assert fusion_loss(bright, bright, dark, w)[1]["base"] == pytest.approx(0.3, abs=1e-3)
    assert fusion_loss(bright, bright, dark)[1]["int"] == pytest.approx(0.0, abs=1e-6)


def test_loss_weights_override_only_the_named_terms(data, tmp_path):
    from dspfusion.training.losses import FusionLossWeights

    cfg = TrainConfig.load(None, ["loss_weights={'gradient': 20}"])
    t = Trainer(tiny_cfg(data, tmp_path / "run", loss_weights=cfg.loss_weights), resume=False, progress=False)
    assert t.weights == FusionLossWeights(gradient=20.0)
    assert Trainer(tiny_cfg(data, tmp_path / "run0"), resume=False, progress=False).weights == FusionLossWeights()
    for bad in ("loss_weights={'grad': 20}", "loss_weights={'gradient': -1}", "loss_weights=[20]",
                "loss_weights={'ssim': True}"):
        with pytest.raises(UserError, match="loss_weights"):
            TrainConfig.load(None, [bad])


def test_channels_last_training_matches_the_default_layout(data, tmp_path):
    """channels_last (default on the CPU) stores the convolution weights channels-last; two Stage I steps and one
    Stage II step from the same seed end at the same weights as the default layout, up to float rounding.

    AdamW divides each gradient element by its own running magnitude, so where a gradient element is near zero a
    rounding difference between the layouts can move that one weight by up to a step (lr) per step. So no element may
    differ by more than the three steps could move it, and fewer than 0.1 % of them by more than 1e-6; a layout bug
    (weights or activations permuted) changes most elements. (An element-wise 1e-5 bound failed after a dependency
    update: 1 of 593,288 elements off by 1.5e-5.)"""
    runs = {}
    for flag in (True, False):
        cfg = tiny_cfg(data, tmp_path / str(flag), channels_last=flag, stage1_iters=2, stage2_iters=1)
        t = Trainer(cfg, resume=False, progress=False)
        w = t.model.fusion.patch_embed.weight
        assert w.is_contiguous(memory_format=torch.channels_last) == flag and (flag or w.is_contiguous())
        runs[flag] = load_model(t.run())[0].state_dict()
    total = beyond = 0
    for k, v in runs[False].items():
        diff = (runs[True][k] - v).abs()
        assert float(diff.max()) <= 3 * 2 * cfg.lr, k
        total, beyond = total + v.numel(), beyond + int((diff > 1e-6).sum())
    assert beyond < 1e-3 * total, f"{beyond} of {total} weights differ by more than 1e-6"
    with pytest.raises(UserError, match="channels_last"):
        TrainConfig.load(None, ["channels_last=1"])


def test_dpen_lr_scale_sets_a_second_group(data, tmp_path, monkeypatch):
    seen = {}
    orig = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.setdefault("lrs", [g["lr"] for g in self.param_groups])
        return orig(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    cfg = tiny_cfg(data, tmp_path / "run", dpen_lr_scale=4.0, stage1_iters=1, stage2_iters=0, warmup=0)
    t = Trainer(cfg, resume=False, progress=False)
    t._run_stage(1, 1)
    assert len(seen["lrs"]) == 2 and seen["lrs"][1] == pytest.approx(4.0 * seen["lrs"][0])


def test_curve_lr_scale_sets_a_group_for_the_tone_curves(data, tmp_path, monkeypatch):
    """curve_lr_scale: the tone-curve MLPs get their own Stage I group at that multiple of the rate, holding exactly
    their parameters; without tone curves in the model the option changes nothing; 0 is refused."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    seen = {}
    orig = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.setdefault("groups", [(g["lr"], {id(p) for p in g["params"]}) for g in self.param_groups])
        return orig(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    base = get_preset("tiny-official")
    curved = base.replace(fusion=replace(base.fusion, tone_curve=4)).to_dict()
    t = Trainer(tiny_cfg(data, tmp_path / "run", model=curved, curve_lr_scale=3.0, stage1_iters=1, stage2_iters=0,
                         warmup=0), resume=False, progress=False)
    t._run_stage(1, 1)
    (lr0, rest), (lr1, curve) = seen.pop("groups")
    f = t.model.fusion
    assert curve == {id(p) for m in (f.curve_ir, f.curve_vi) for p in m.parameters()} and not rest & curve
    assert lr1 == pytest.approx(3.0 * lr0)
    t = Trainer(tiny_cfg(data, tmp_path / "plain", curve_lr_scale=3.0, stage1_iters=1, stage2_iters=0, warmup=0),
                resume=False, progress=False)
    t._run_stage(1, 1)
    assert len(seen["groups"]) == 1
    with pytest.raises(UserError, match="curve_lr_scale"):
        TrainConfig.load(None, ["curve_lr_scale=0"])


def test_tone_weight_trains_the_tone_curves_towards_the_clean_targets(data, tmp_path):
    """tone_weight w (ours): Stage I adds w × (L1(curve(IR'), clean IR) + L1(curve(VI'), clean VI)), IR'/VI' the
    degraded inputs after destriping and sharpening, logged as "tone", with and without priors; its gradient reaches the
    tone curves and nothing else of the fusion network; w = 0 adds nothing (the loss as before); w < 0 is refused."""
    from dataclasses import replace

    from torch.utils.data import default_collate

    from dspfusion.config import get_preset
    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import Stage1

    base = get_preset("tiny-official")
    curved = base.replace(fusion=replace(base.fusion, tone_curve=4, sharpen=True, destripe=True))
    for use_priors in (True, False):
        model = curved.replace(use_priors=use_priors).to_dict()
        out = {}
        for w in (0.0, 2.5):
            torch.manual_seed(0)
            t = Trainer(tiny_cfg(data, tmp_path / f"{use_priors}{w}", model=model, tone_weight=w, freeze_dpen=True),
                        resume=False, progress=False)
            batch = default_collate([t._datasets()[0][i] for i in range(2)])
            loss, logs = Stage1(t.model, t.cfg, FusionLossWeights())(batch)
            out[w] = (float(loss.detach()), logs, t)
        (l0, logs0, _), (l1, logs1, t) = out[0.0], out[2.5]
        assert "tone" not in logs0 and logs1["tone"] > 0
        f = t.model.fusion
        with torch.no_grad():
            pri = t.model.compute_priors(batch["lq_ir"], batch["lq_vi"], sem_override=torch.zeros(t.model.sem_shape(2)))
            ir, vi = f.prepare_inputs(batch["lq_ir"], batch["lq_vi"], pri.deg_ir, pri.deg_vi)
            ref = 2.5 * (torch.nn.functional.l1_loss(f.tone(ir, pri.deg_ir, f.curve_ir), batch["gt_ir"])
                         + torch.nn.functional.l1_loss(f.tone(vi, pri.deg_vi, f.curve_vi), batch["gt_vi"]))
        assert logs1["tone"] == pytest.approx(float(ref), rel=1e-5)
        assert l1 == pytest.approx(l0 + float(ref), rel=1e-5)  # same initial weights: only the term is added
        t.model.zero_grad(set_to_none=True)
        s1 = Stage1(t.model, t.cfg, FusionLossWeights())
        pri = t.model.compute_priors(batch["lq_ir"], batch["lq_vi"], sem_override=torch.zeros(t.model.sem_shape(2)))
        s1.tone_term(batch, pri.deg_ir.detach(), pri.deg_vi.detach()).backward()
        curves = {id(p) for m in (f.curve_ir, f.curve_vi) for p in m.parameters()}
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for m in (f.curve_ir, f.curve_vi) for p in m.parameters())
        assert all(p.grad is None or p.grad.abs().sum() == 0 for p in f.parameters() if id(p) not in curves)
    with pytest.raises(UserError, match="tone_weight"):
        TrainConfig.load(None, ["tone_weight=-1"])


def test_dpen_init_loads_dpen_and_freeze_dpen_keeps_it(data, tmp_path):
    """dpen_init copies a file's degradation.* (and a fitting probe.*) into the new model; freeze_dpen leaves DPEN
    unchanged through Stage I while the fusion network trains; a DPEN of another size is refused by name."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    donor = Trainer(tiny_cfg(data, tmp_path / "donor", model=_with_probe()), resume=False, progress=False).model
    for p in donor.degradation.parameters():
        p.data.add_(0.05)  # distinct from any fresh initialisation
    file = tmp_path / "dpen.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items() if k.startswith(("degradation.", "probe."))},
              str(file))
    cfg = tiny_cfg(data, tmp_path / "run", model=_with_probe(), dpen_init=str(file), freeze_dpen=True,
                   stage1_iters=2, stage2_iters=0, warmup=0)
    t = Trainer(cfg, resume=False, progress=False)
    ref = {k: v.clone() for k, v in donor.state_dict().items()}
    for k, v in t.model.state_dict().items():
        if k.startswith(("degradation.", "probe.")):
            assert torch.equal(v, ref[k]), k
    fusion_before = [p.clone() for p in t.model.fusion.parameters()]
    t._run_stage(1, 2)
    for k, v in t.model.degradation.state_dict().items():
        assert torch.equal(v, ref["degradation." + k]), k
    assert any(not torch.equal(a, b) for a, b in zip(fusion_before, t.model.fusion.parameters()))
    # a DPEN of another size: a clear error
    save_file({"degradation.stem.0.weight": torch.zeros(3, 3, 7, 7)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="does not match"):
        Trainer(tiny_cfg(data, tmp_path / "r2", model=_with_probe(), dpen_init=str(tmp_path / "other.safetensors")),
                resume=False, progress=False)
    with pytest.raises(UserError, match="not found"):
        Trainer(tiny_cfg(data, tmp_path / "r3", dpen_init=str(tmp_path / "missing.safetensors")), resume=False,
                progress=False)
    for bad in ("freeze_dpen=yes", "dpen_init=3"):
        with pytest.raises(UserError, match=bad.split("=")[0]):
            TrainConfig.load(None, [bad])


def test_two_stages_train_and_export(data, tmp_path):
    cfg = tiny_cfg(data, tmp_path / "run", val_roots=[str(data)], val_items=2, val_every=2)
    path = Trainer(cfg, resume=False, progress=False).run()
    model, info = load_model(path)
    assert info["trained"] and model.config == Trainer(cfg, resume=False, progress=False).model.config
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("stage,step") and len(log) == 1 + cfg.stage1_iters + cfg.stage2_iters
    assert "contrast" in log[0] and "prior" in log[0]
    assert (tmp_path / "run" / "val.csv").exists()
    # Stage II trains only the denoiser
    s1 = torch.load(tmp_path / "run" / "stage1.pt", weights_only=True)["model"]
    s2 = model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s2 if not k.startswith("diffusion."))
    assert any(not torch.equal(s1[k], s2[k]) for k in s2 if k.startswith("diffusion."))


def test_resume_is_exact(data, tmp_path):
    full = tiny_cfg(data, tmp_path / "full", stage1_iters=4, stage2_iters=2, ckpt_every=1)
    Trainer(full, resume=False, progress=False).run()
    ref = load_model(tmp_path / "full" / "model.safetensors")[0].state_dict()
    # interrupted run: stop after 2 steps of stage 1 (simulated by a shorter first invocation)
    part = full.replace(out_dir=str(tmp_path / "part"))
    t = Trainer(part, resume=False, progress=False)
    t._run_stage_limit = 2
    _run_until(t, 2)
    Trainer(part, resume=True, progress=False).run()
    got = load_model(tmp_path / "part" / "model.safetensors")[0].state_dict()
    for k in ref:
        assert torch.allclose(ref[k], got[k], atol=1e-6), k


def test_continue_from_weights_with_refit_probe(data, tmp_path):
    """init_from weights whose probe was refit post hoc (probe_hidden/probe_tile/probe_scales): the run keeps that
    layout, counts steps on from the init's step and resumes; any other config difference is refused."""
    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    base = get_preset("tiny-official").replace(with_probe=True)
    refit = base.replace(probe_hidden=8, probe_tile=16, probe_scales=(1.0, 0.5, 0.25))
    torch.manual_seed(3)
    init = build_model(refit)
    init_path = save_model(init, tmp_path / "init.safetensors", step=7)
    cfg = tiny_cfg(data, tmp_path / "cont", model=base.to_dict(), init_from=str(init_path), stage1_iters=2, stage2_iters=1)
    t = Trainer(cfg, resume=False, progress=False)
    assert t.model.config == refit
    for k, v in init.state_dict().items():
        assert torch.equal(t.model.state_dict()[k], v), k
    path = t.run()
    model, info = load_model(path)
    assert model.config == refit and info["step"] == 7 + 2 + 1
    assert Trainer(cfg, resume=True, progress=False).model.config == refit  # resume from last.pt keeps the layout
    other = tiny_cfg(data, tmp_path / "bad", model=base.replace(sampling_steps=3).to_dict(), init_from=str(init_path))
    with pytest.raises(ValueError, match="differs"):
        Trainer(other, resume=False, progress=False)


def _grown_trainer(data: Path, out: Path, base, grown, seed: int, init_step: int, **kw):
    """A Trainer for model config ``grown`` started (init_from) from fresh ``base`` weights saved at ``init_step``;
    returns it with the init model."""
    from dspfusion.checkpoint import save_model
    from dspfusion.models import build_model

    torch.manual_seed(seed)
    init = build_model(base)
    init_path = save_model(init, out / "init.safetensors", step=init_step)
    cfg = tiny_cfg(data, out / "run", model=grown.to_dict(), init_from=str(init_path), **kw)
    return Trainer(cfg, resume=False, progress=False), init


def test_continue_adds_the_detail_head(data, tmp_path):
    """init_from weights without the detail head into a model with one: every other tensor is copied, the head
    starts at zero output, and the run trains it."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    base = get_preset("tiny-official")
    grown = base.replace(fusion=replace(base.fusion, detail_channels=4))
    t, init = _grown_trainer(data, tmp_path / "grow", base, grown, seed=5, init_step=3, stage1_iters=3, stage2_iters=1)
    assert t.model.config == grown
    for k, v in init.state_dict().items():
        assert torch.equal(t.model.state_dict()[k], v), k
    assert t.model.fusion.detail.conv3.weight.abs().sum() == 0
    model, info = load_model(t.run())
    assert model.config == grown and info["step"] == 3 + 3 + 1
    assert model.fusion.detail.conv3.weight.abs().sum() > 0
    # the other way round (weights with the head into a model without it) is refused
    back = tiny_cfg(data, tmp_path / "back", model=base.to_dict(), init_from=str(tmp_path / "grow" / "run" / "model.safetensors"))
    with pytest.raises(ValueError, match="differs"):
        Trainer(back, resume=False, progress=False)


def test_continue_adds_detail_blocks_ir_mix_band_mix_and_tone_curve(data, tmp_path):
    """init_from weights whose detail head has fewer residual blocks than the model's, and no IR or band mixing
    weights and no tone curves: every tensor is copied, the new parts start as the identity / zero (zero last
    convolution or layer), and the run trains them."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    base = get_preset("tiny-official")
    base = base.replace(fusion=replace(base.fusion, detail_channels=4))
    deep = base.replace(fusion=replace(base.fusion, detail_blocks=1, ir_mix=True, band_mix=True, tone_curve=4))
    t, init = _grown_trainer(data, tmp_path / "deep", base, deep, seed=6, init_step=2, stage1_iters=2, stage2_iters=0)
    assert t.model.config == deep
    for k, v in init.state_dict().items():
        assert torch.equal(t.model.state_dict()[k], v), k
    block = t.model.fusion.detail.blocks[0]
    assert block.conv2.weight.abs().sum() == 0 and t.model.fusion.mix.weight.abs().sum() == 0
    assert t.model.fusion.band.weight.abs().sum() == 0 and t.model.fusion.curve_ir[-1].weight.abs().sum() == 0
    model, _ = load_model(t.run())
    assert model.config == deep and model.fusion.detail.blocks[0].conv2.weight.abs().sum() > 0
    assert model.fusion.mix.weight.abs().sum() > 0 and model.fusion.band.weight.abs().sum() > 0
    assert model.fusion.curve_ir[-1].weight.abs().sum() > 0 and model.fusion.curve_vi[-1].weight.abs().sum() > 0


def test_continue_grows_the_spdm_copy_gate_and_stage2_trains_it(data, tmp_path):
    """init_from weights without the SPDM's copy gate into a model with one: every tensor is copied, the gate starts
    at zero (so the grown SPDM restores what the init's restores), and Stage II trains it."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    base = get_preset("tiny-official")
    gated = base.replace(denoiser=replace(base.denoiser, copy_gate=True))
    t, init = _grown_trainer(data, tmp_path / "gate", base, gated, seed=7, init_step=2, stage1_iters=0, stage2_iters=3)
    assert t.model.config == gated
    for k, v in init.state_dict().items():
        assert torch.equal(t.model.state_dict()[k], v), k
    gate = t.model.diffusion.denoiser.copy_gate
    assert gate.weight.abs().sum() == 0 and gate.bias.abs().sum() == 0
    cond = torch.randn(2, base.denoiser.tokens, base.denoiser.cond_dim)
    x_T = torch.randn(2, base.denoiser.tokens, base.denoiser.dim)
    with torch.no_grad():
        assert torch.equal(t.model.diffusion.sample(x_T, cond), init.diffusion.sample(x_T, cond))
    model, _ = load_model(t.run())
    assert model.config == gated and model.diffusion.denoiser.copy_gate.weight.abs().sum() > 0


def test_continue_with_a_dpen_of_another_size_from_dpen_init(data, tmp_path):
    """init_from weights whose DPEN is smaller than the model's, with dpen_init holding a DPEN (and probe) of the
    model's size and the same prior channels: every other tensor comes from init_from, DPEN and probe from the
    dpen_init file. Without dpen_init the size difference is refused, naming dpen_init."""
    from dataclasses import replace

    from safetensors.torch import save_file

    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    base = get_preset("tiny-official").replace(with_probe=True)
    bigger = base.replace(degradation=replace(base.degradation, embed_dim=2 * base.degradation.embed_dim,
                                              num_blocks=base.degradation.num_blocks + 1))
    assert bigger.degradation.out_dim == base.fusion.deg_dim == get_preset("tiny-official").fusion.deg_dim
    torch.manual_seed(2)
    donor = build_model(bigger)
    file = tmp_path / "dpen.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items() if k.startswith(("degradation.", "probe."))},
              str(file))
    t, init = _grown_trainer(data, tmp_path / "swap", base, bigger, seed=7, init_step=4, stage1_iters=1,
                             stage2_iters=0, dpen_init=str(file), freeze_dpen=True)
    assert t.model.config == bigger
    got, want_init, want_donor = t.model.state_dict(), init.state_dict(), donor.state_dict()
    for k, v in got.items():
        ref = want_donor[k] if k.startswith(("degradation.", "probe.")) else want_init[k]
        assert torch.equal(v, ref), k
    model, info = load_model(t.run())
    assert model.config == bigger and info["step"] == 4 + 1
    with pytest.raises(ValueError, match="dpen_init"):
        _grown_trainer(data, tmp_path / "refused", base, bigger, seed=7, init_step=4)


def test_continue_adds_restormer_blocks_as_the_identity(data, tmp_path):
    """init_from weights with fewer Restormer blocks per level (``num_blocks``, ``num_refinement_blocks``) than
    the model's: the init's blocks are copied, the new ones are appended with zero output projections, so the grown
    model fuses exactly as the init did; the run trains them. Fewer blocks than the init's are refused."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    base = get_preset("tiny-official")
    nb = base.fusion.num_blocks
    deep = base.replace(fusion=replace(base.fusion, num_blocks=(nb[0], nb[1] + 1, nb[2], nb[3] + 1),
                                       num_refinement_blocks=base.fusion.num_refinement_blocks + 1))
    t, init = _grown_trainer(data, tmp_path / "blocks", base, deep, seed=7, init_step=2, stage1_iters=2, stage2_iters=0)
    assert t.model.config == deep
    for k, v in init.state_dict().items():
        assert torch.equal(t.model.state_dict()[k], v), k
    new = [t.model.fusion.encoders[1].blocks[nb[1]], t.model.fusion.encoders[3].blocks[nb[3]],
           t.model.fusion.decoder2.blocks[nb[1]], t.model.fusion.refinement.blocks[-1]]
    for block in new:
        assert block.attn.project_out.weight.abs().sum() == 0 and block.ffn.project_out.weight.abs().sum() == 0
        assert block.ffn.project_in.weight.abs().sum() > 0  # only the outputs are zero
    torch.manual_seed(0)
    ir, vi = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    noise = init.initial_noise(1, seed=0)
    with torch.no_grad():
        a = init.eval()(ir, vi, noise=noise)
        b = t.model.eval()(ir, vi, noise=noise)
    assert torch.allclose(a, b, atol=1e-6)
    model, _ = load_model(t.run())
    assert model.config == deep
    assert model.fusion.encoders[3].blocks[nb[3]].ffn.project_out.weight.abs().sum() > 0
    back = tiny_cfg(data, tmp_path / "back", model=base.to_dict(),
                    init_from=str(tmp_path / "blocks" / "run" / "model.safetensors"))
    with pytest.raises(ValueError, match="differs"):
        Trainer(back, resume=False, progress=False)


def _run_until(trainer: Trainer, steps: int) -> None:
    """Run stage 1 but stop after ``steps`` (as a crash would, right after a checkpoint)."""
    from dspfusion.training import trainer as tr

    orig = tr.lr_at

    class Stop(Exception):
        pass

    def lr_hook(step, total, cfg):
        if step >= steps:
            raise Stop
        return orig(step, total, cfg)

    tr.lr_at = lr_hook
    try:
        trainer._run_stage(1, trainer.cfg.stage1_iters)
    except Stop:
        pass
    finally:
        tr.lr_at = orig


@pytest.mark.slow
def test_ddp_two_processes_stay_in_sync(data, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "dspfusion", "train",
           str(REPO / "configs" / "tiny_test.yaml"), "--quiet", "--no-resume",
           "--set", f"train_roots=['{data}']", "--set", f"out_dir={out}", "--set", "stage1_iters=3", "--set", "stage2_iters=2"]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    for stage in (1, 2):
        text = (out / f"sync_stage{stage}.txt").read_text()
        assert "world=2 in_sync=True" in text
    assert (out / "model.safetensors").exists()


def test_soft_qabf_matches_the_metric_and_trains_towards_both_sources_edges():
    """``soft_qabf`` (the ``qabf`` loss term, ours) with the metric's zero padding and a tiny ε equals
    dspfusion.metrics.qabf on 8-bit images; the training default (replicate padding, ε 1e-3) puts the same fusions
    first and last; the term is 1 − Q̃abf, differentiable, and off unless weighted."""
    from dspfusion.metrics.qabf import qabf
    from dspfusion.training.losses import FusionLossWeights, soft_qabf

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    ir = np.clip(60 + 120 * ((xx - 30) ** 2 + (yy - 20) ** 2 < 150) + rng.normal(0, 4, xx.shape), 0, 255).round()
    vi = np.clip(100 + 60 * np.sin(xx / 3.0) * (yy > 24) + rng.normal(0, 4, xx.shape), 0, 255).round()
    fusions = {"max": np.maximum(ir, vi), "mean": ((ir + vi) / 2).round(), "ir": ir,
               "blurred max": cv2.GaussianBlur(np.maximum(ir, vi), (0, 0), 1.5)}

    def t(x):
        return torch.tensor(x / 255.0, dtype=torch.float64)[None, None]

    metric = {k: qabf(f, ir, vi) for k, f in fusions.items()}
    for k, f in fusions.items():
        exact = float(soft_qabf(t(f), t(ir), t(vi), eps=1e-7, padding="zeros"))
        assert exact == pytest.approx(metric[k], abs=2e-3), k
    smooth = {k: float(soft_qabf(t(f), t(ir), t(vi))) for k, f in fusions.items()}
    for ranking in (metric, smooth):  # the border weighs less without zero padding, so only the ends are compared
        assert max(ranking, key=ranking.get) == "max" and min(ranking, key=ranking.get) == "blurred max"
    with pytest.raises(ValueError, match="padding"):
        soft_qabf(t(ir), t(ir), t(vi), padding="reflect")

    rgb = lambda x: t(x).float().expand(-1, 3, -1, -1)  # noqa: E731
    fused = rgb(fusions["mean"]).clone().requires_grad_(True)
    assert "qabf" not in fusion_loss(fused, rgb(ir), rgb(vi))[1]
    total, terms = fusion_loss(fused, rgb(ir), rgb(vi), FusionLossWeights(qabf=2.0))
    assert terms["qabf"] == pytest.approx(2.0 * (1 - smooth["mean"]), abs=1e-4)
    total.backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0


def test_restored_prior_feeds_stage1_the_spdm_prior_without_gradient_to_spen(data, tmp_path):
    """restored_prior p (ours): each Stage I sample reads, with probability p, the prior the frozen SPDM restores from
    the degraded pair instead of SPEN's prior of the clean pair. p = 1: the loss is that of the fusion network on the
    restored prior, and SPEN (which makes only the clean prior) gets no gradient; p = 0: the official Stage I."""
    from torch.utils.data import default_collate

    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import Stage1, degraded_samples

    losses, spen_grads = {}, {}
    for p in (0.0, 1.0):
        torch.manual_seed(0)
        t = Trainer(tiny_cfg(data, tmp_path / f"p{p}", restored_prior=p, freeze_dpen=True), resume=False, progress=False)
        ds = t._datasets()[0]
        batch = default_collate([ds[i] for i in range(2)])
        s1 = Stage1(t.model, t.cfg, FusionLossWeights())
        t.model.zero_grad(set_to_none=True)
        loss, _ = s1(batch, step=3)
        loss.backward()
        losses[p] = float(loss.detach())
        spen_grads[p] = [q.grad for q in t.model.semantic.parameters()]
        if p == 1.0:  # the same loss by hand: the fusion network on the SPDM's prior, x_T as mix_restored_prior draws it
            m = t.model
            with torch.no_grad():
                g = torch.Generator().manual_seed(t.cfg.seed * 7919 + 104_729 + 3)
                torch.rand(2, generator=g)
                deg, _ = m.degradation(torch.cat([batch["lq_ir"], batch["lq_vi"]]))
                d_ir, d_vi = deg.chunk(2)
                cond = torch.cat([m.semantic(batch["lq_ir"], batch["lq_vi"]), d_ir, d_vi], -1)
                sem = m.diffusion.sample(torch.randn(m.sem_shape(2), generator=g), cond, m.config.sampling_steps)
                fused = m.fusion(batch["lq_ir"], batch["lq_vi"], d_ir, d_vi, sem)
                ref, _ = fusion_loss(fused, batch["gt_ir"], batch["gt_vi"], FusionLossWeights(), degraded_samples(batch))
            assert float(ref) == pytest.approx(losses[p], rel=1e-5)
    assert losses[0.0] != pytest.approx(losses[1.0], rel=1e-6)
    assert any(g is not None and g.abs().sum() > 0 for g in spen_grads[0.0])
    assert all(g is None or g.abs().sum() == 0 for g in spen_grads[1.0])
    for bad in ("restored_prior=1.5", "restored_prior=-0.1", "restored_prior=True"):
        with pytest.raises(UserError, match="restored_prior"):
            TrainConfig.load(None, [bad])


def test_fit_sem_gate_fits_the_gate_alone_and_writes_a_model_that_loads(tmp_path):
    """benchmarks/fit_sem_gate.py on a tiny model and four synthetic pairs larger than the copy: the written model has
    ``sem_copy_side``, the source's step, a gate that moved, and every other tensor bit-identical to the source's; the
    report names the conditions. A no-prior model and an existing output are refused."""
    import importlib.util

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    spec = importlib.util.spec_from_file_location("fit_sem_gate", REPO / "benchmarks" / "fit_sem_gate.py")
    fs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fs)
    root = tmp_path / "pairs"
    for i in range(5):
        ir, vi = make_example_pair(64, 96, seed=i)
        write_image(root / "ir" / f"{i:02d}.png", ir)
        write_image(root / "vi" / f"{i:02d}.png", vi)
    torch.manual_seed(0)
    src = tmp_path / "src.safetensors"
    save_model(build_model(get_preset("tiny-official")), src, step=13)
    out, report = tmp_path / "gated.safetensors", tmp_path / "fit.md"
    threads = torch.get_num_threads()
    try:
        assert fs.main(["--model", str(src), "--side", "32", "--train", str(root), "--samples", "6", "--steps", "8",
                        "--crop", "32", "--lr", "0.05", "--conditions", "clean", "vi_haze", "--check", "0.4",
                        "--write", str(out), "--report", str(report)]) == 0
        with pytest.raises(SystemExit, match="exists"):
            fs.main(["--model", str(src), "--side", "32", "--train", str(root), "--samples", "2", "--steps", "1",
                     "--crop", "32", "--write", str(out)])
        scan = tmp_path / "scan.md"  # --scan fits and writes nothing: the loss at fixed mixes, per condition
        assert fs.main(["--model", str(src), "--side", "32", "--train", str(root), "--samples", "4", "--check", "0.4",
                        "--conditions", "vi_LL", "--scan", "0", "1", "--report", str(scan)]) == 0
        text = scan.read_text()
        assert "| condition | samples | loss, g = 0 | loss, g = 1 | Qabf, g = 0 | Qabf, g = 1 |" in text and "| vi_LL |" in text
        assert fs.main(["--model", str(src), "--side", "32", "--train", str(root), "--samples", "4", "--check", "0.4",
                        "--conditions", "vi_LL", "--scan", "0", "1", "--by-dataset", "--report", str(scan)]) == 0
        assert "| pairs · vi_LL |" in scan.read_text()
    finally:
        torch.set_num_threads(threads)
    model, info = load_model(str(out))
    before, _ = load_model(str(src))
    assert model.config.sem_copy_side == 32 and info["step"] == 13
    gate = {k: v for k, v in model.state_dict().items() if k.startswith("sem_gate.")}
    assert gate and gate["sem_gate.mlp.2.weight"].abs().sum() > 0  # the zero-initialised last layer moved
    for k, v in before.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    text = report.read_text()
    assert "| all |" in text and ("| clean |" in text or "| vi_haze |" in text)
    noprior = tmp_path / "noprior.safetensors"
    save_model(build_model(get_preset("tiny-official").replace(use_priors=False)), noprior, step=1)
    with pytest.raises(SystemExit, match="no-prior"):
        fs.main(["--model", str(noprior), "--train", str(root)])
