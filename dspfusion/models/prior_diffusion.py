"""SPDM — the semantic prior diffusion model (paper §III-D, Eq. 9-12).

A small latent diffusion model that restores the *clean* semantic prior
Ps ``[B, 16, C_s]`` from noise, conditioned on the prior of the degraded pair and
on both degradation priors: ``cond = [SPEN(LQ) | Pd_ir | Pd_vi]``.

As in the official code (which differs from the paper):

* the denoiser predicts **x0** (not ε): ``[x_t | τ_t | cond]`` → Linear +
  LeakyReLU(0.2) → k × (Mixer → GELU) → Linear + GELU; the "timestep embedding"
  τ_t is the integer step t times one learnable scalar (init 1e-3), broadcast;
* the schedule is LDM's "linear": β = linspace(√0.1, √0.99, T)², T = 10;
* sampling is deterministic: each reverse step is the posterior mean
  ``x_{t-1} = c1_t · x̂0 + c2_t · x_t`` — no noise term, no clipping.

Extension (ours, ``DenoiserConfig.copy_gate``, default off): a per-token, per-channel weight g in [0, 1], read off
the denoiser's last hidden layer, blends the x0 estimate towards the degraded pair's prior (the first C_s channels
of cond): ``x̂0 = D + g · (Ps_lq − D)``. g starts at zero, so a model grown from weights without it is unchanged.

Extension (ours): fewer sampling steps than T. Between non-adjacent steps t > s we
use the exact DDPM posterior mean q(x_s | x_t, x0), which reduces to the official
step when s = t − 1, so ``steps == T`` reproduces the official sampler exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import DenoiserConfig, DiffusionConfig
from .common import MixerBlock


class Denoiser(nn.Module):
    """x_t ``[B,N,C]``, t (int or ``[B]``), cond ``[B,N,C_cond]`` → x̂0 ``[B,N,C]``."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.time_scale = nn.Parameter(torch.full((1,), 1e-3))
        self.input_proj = nn.Sequential(nn.Linear(2 * cfg.dim + cfg.cond_dim, cfg.inner_dim), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(
            [
                MixerBlock(cfg.tokens, cfg.inner_dim, cfg.token_hidden, cfg.inner_dim * cfg.channel_expansion)
                for _ in range(cfg.num_blocks)
            ]
        )
        self.act = nn.GELU()
        self.output_proj = nn.Sequential(nn.Linear(cfg.inner_dim, cfg.dim), nn.GELU())
        self.copy_gate: nn.Linear | None = None
        if cfg.copy_gate:  # ours: x̂0 = D + g·(Ps_lq − D), g = clamp(Linear(h), 0, 1), zero at init
            self.copy_gate = nn.Linear(cfg.inner_dim, cfg.dim)
            nn.init.zeros_(self.copy_gate.weight)
            nn.init.zeros_(self.copy_gate.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
        tau = (t * self.time_scale).expand(x.shape[0], x.shape[1], x.shape[2])
        h = self.input_proj(torch.cat([x, tau, cond], dim=-1))
        for block in self.blocks:
            h = self.act(block(h))
        out = self.output_proj(h)
        if self.copy_gate is not None:
            g = self.copy_gate(h).clamp(0.0, 1.0)
            out = out + g * (cond[..., : out.shape[-1]] - out)
        return out


class DiffusionSchedule(nn.Module):
    """Noise schedule tables (float64 buffers) and the posterior-mean coefficients."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        betas = torch.linspace(cfg.linear_start**0.5, cfg.linear_end**0.5, cfg.timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("alphas_cumprod", alphas_cumprod, persistent=False)

    @property
    def timesteps(self) -> int:
        return self.cfg.timesteps

    def abar(self, t: int) -> torch.Tensor:
        """ᾱ_t, with ᾱ_{-1} = 1."""
        return self.alphas_cumprod[t] if t >= 0 else torch.ones((), dtype=torch.float64)

    def posterior_coefs(self, t: int, s: int) -> tuple[float, float]:
        """(c1, c2) with E[x_s | x_t, x0] = c1·x0 + c2·x_t for s < t."""
        a_t, a_s = self.abar(t), self.abar(s)
        a_ts = a_t / a_s
        c1 = a_s.sqrt() * (1 - a_ts) / (1 - a_t)
        c2 = a_ts.sqrt() * (1 - a_s) / (1 - a_t)
        return float(c1), float(c2)

    def sampling_timesteps(self, steps: int) -> list[int]:
        """Descending timesteps used by a ``steps``-step sampler (all of T-1..0 when steps == T)."""
        T = self.cfg.timesteps
        if not 1 <= steps <= T:
            raise ValueError(f"steps must be in 1..{T}, got {steps}")
        ts = torch.linspace(T - 1, 0, steps).round().long().tolist()
        return list(dict.fromkeys(int(t) for t in ts))

    def q_sample(self, x0: torch.Tensor, noise: torch.Tensor, t: int | None = None) -> torch.Tensor:
        """Forward diffusion to step t (default: the last step, as Stage II training does)."""
        t = self.cfg.timesteps - 1 if t is None else t
        a = self.abar(t)
        return float(a.sqrt()) * x0 + float((1 - a).sqrt()) * noise


class PriorDiffusion(nn.Module):
    """Denoiser + schedule + the deterministic x0-parameterised posterior-mean sampler."""

    def __init__(self, denoiser: Denoiser, schedule: DiffusionSchedule) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.schedule = schedule

    def sample(self, x_T: torch.Tensor, cond: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Run the reverse chain from ``x_T`` ``[B,N,C]``. Differentiable (Stage II trains through it)."""
        ts = self.schedule.sampling_timesteps(steps or self.schedule.timesteps)
        x = x_T
        for i, t in enumerate(ts):
            s = ts[i + 1] if i + 1 < len(ts) else -1
            x0 = self.denoiser(x, t, cond)
            c1, c2 = self.schedule.posterior_coefs(t, s)
            x = c1 * x0 + c2 * x if c2 != 0.0 else c1 * x0
        return x
