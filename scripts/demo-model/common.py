"""Shared helpers: the DDPM training schedule (diffusers scaled_linear) and small samplers for evaluation."""
import numpy as np
import torch

T = 1000
BETA_START, BETA_END = 0.00085, 0.012


def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def ddim_timesteps(n, steps_offset=1):
    """diffusers DDIM, timestep_spacing="leading" (as shipped in scheduler_config.json): (arange(n) * (T // n))
    reversed, + steps_offset. ("trailing" would make the engine treat the model as a Turbo distillation.)"""
    return (np.arange(n)[::-1] * (T // n) + steps_offset).astype(np.int64)


@torch.no_grad()
def ddim_sample(unet, cond, uncond, x, steps=20, cfg=7.0):
    """Deterministic DDIM (eta 0, set_alpha_to_one=False) with classifier-free guidance, batch [uncond, cond]."""
    ac = alphas_cumprod()
    ts = ddim_timesteps(steps)
    for i, t in enumerate(ts):
        if cfg > 1:
            eps_u, eps_c = unet(torch.cat([x, x]), torch.full((1,), float(t)), torch.cat([uncond, cond])).chunk(2)
            eps = eps_u + cfg * (eps_c - eps_u)
        else:
            eps = unet(x, torch.full((1,), float(t)), cond)
        prev = int(ts[i + 1]) if i + 1 < len(ts) else -1
        a_t = ac[t]
        a_p = ac[prev] if prev >= 0 else ac[0]
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps
    return x
