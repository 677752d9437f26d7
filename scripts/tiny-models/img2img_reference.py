#!/usr/bin/python3
"""Reference values for the engine's image-to-image and inpainting tests, computed with diffusers' own code.

    /usr/bin/python3 scripts/tiny-models/img2img_reference.py --diffusers /path/to/diffusers/src > reference.json

Needs torch, numpy and Pillow (Debian's python3-torch / python3-numpy / python3-pil) and a checkout of diffusers'
sources (the values in docs/engine-reference.md §4.10, §6.4 and §7.6 were made from commit
58eb52c0803ea9af3abec60841c2a093bdf1f951, with torch 1.13, numpy 1.24 and Pillow 9.4). diffusers itself is not
installed: a small import shim (below) stands in for the parts of the package that only matter for loading from the
Hub (ConfigMixin's file handling, logging, hub helpers), and the modules and functions that compute are loaded from
the checkout unchanged:

- the scheduler classes (schedulers/scheduling_*.py) for set_timesteps, set_begin_index, add_noise and step;
- `get_timesteps`, `prepare_latents` and `retrieve_latents` from pipeline_stable_diffusion_img2img.py,
  `prepare_latents`, `_encode_vae_image` and `prepare_mask_latents` from pipeline_stable_diffusion_inpaint.py,
  taken out of the pipeline classes with `ast` and bound to a stand-in pipeline object (a scheduler, and a VAE whose
  encode() returns fixed latent parameters, so the values show the generator order, not a VAE);
- `DiagonalGaussianDistribution` from models/autoencoders/vae.py and `randn_tensor` from utils/torch_utils.py.

The Pillow section (resize and grayscale conversion, what diffusers' VaeImageProcessor calls) uses Pillow itself
(9.4 here; its Lanczos code in libImaging/Resample.c has not changed in years).

What each section of the output is, and how the engine tests use it, is described next to the code that makes it.
"""
import __future__
import argparse
import ast
import dataclasses
import functools
import importlib.util
import inspect
import json
import logging
import math
import os
import sys
import types

import numpy as np
import torch

# --------------------------------------------------------------------------------------------------------------
# Import shim
# --------------------------------------------------------------------------------------------------------------


class FrozenDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(name) from err


class ConfigMixin:
    """The config behaviour schedulers rely on: `self.config`, `register_to_config` and `from_config`'s key rule."""

    config_name = "scheduler_config.json"

    def register_to_config(self, **kwargs):
        kwargs.pop("kwargs", None)
        previous = dict(getattr(self, "_internal_dict", {}))
        self._internal_dict = FrozenDict({**previous, **kwargs})

    @property
    def config(self):
        return self._internal_dict

    @classmethod
    def from_config(cls, config, **kwargs):
        # diffusers' extract_init_dict: keep the keys the constructor accepts; missing ones take its defaults.
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        merged = {**{k: v for k, v in dict(config).items() if k in accepted}, **kwargs}
        return cls(**merged)


def register_to_config(init):
    @functools.wraps(init)
    def inner(self, *args, **kwargs):
        params = [p for i, p in enumerate(inspect.signature(init).parameters.values()) if i > 0]
        values = {p.name: p.default for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}
        values.update(zip((p.name for p in params), args))
        values.update({k: v for k, v in kwargs.items() if not k.startswith("_")})
        self.register_to_config(**values)
        init(self, *args, **{k: v for k, v in kwargs.items() if not k.startswith("_")})

    return inner


class BaseOutput:
    def __getitem__(self, i):
        return dataclasses.astuple(self)[i]


def extract(path, names, namespace):
    """Executes the named top-level functions/classes (or methods of a class, `Class.method`) of a source file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        found[f"{node.name}.{item.name}"] = item
    out = {}
    for name in names:
        node = found[name]
        node.decorator_list = [d for d in node.decorator_list if not (isinstance(d, ast.Name) and d.id == "torch")]
        module = ast.Module(body=[node], type_ignores=[])
        # Annotations stay unevaluated (some files use `from __future__ import annotations` for forward references).
        exec(compile(module, path, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True), namespace)
        out[name] = namespace[node.name]
    return out


def install_shim(src):
    root = os.path.join(src, "diffusers")

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    module("diffusers", __path__=[root])
    module("diffusers.configuration_utils", ConfigMixin=ConfigMixin, register_to_config=register_to_config,
           FrozenDict=FrozenDict)
    module("diffusers.utils", __path__=[], BaseOutput=BaseOutput, PushToHubMixin=object,
           is_scipy_available=lambda: False,
           logging=types.SimpleNamespace(get_logger=logging.getLogger), deprecate=lambda *a, **k: None)
    torch_utils = module("diffusers.utils.torch_utils")
    torch_utils.__dict__.update({"torch": torch, "logger": logging.getLogger("randn_tensor")})
    extract(os.path.join(root, "utils", "torch_utils.py"), ["randn_tensor"], torch_utils.__dict__)
    module("huggingface_hub", __path__=[])
    module("huggingface_hub.utils", validate_hf_hub_args=lambda f: f)
    module("diffusers.schedulers", __path__=[os.path.join(root, "schedulers")])

    def load(name):
        path = os.path.join(root, "schedulers", f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"diffusers.schedulers.{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod

    load("scheduling_utils")
    lms = load("scheduling_lms_discrete")
    # scipy is not needed for anything else; LMS integrates cubic polynomials, which 16-point Gauss-Legendre does
    # exactly.
    nodes, weights = np.polynomial.legendre.leggauss(16)

    def quad(f, a, b, epsrel=None):
        half, mid = (b - a) / 2, (a + b) / 2
        return sum(w * f(half * x + mid) for x, w in zip(nodes, weights)) * half, 0.0

    lms.integrate = types.SimpleNamespace(quad=quad)
    classes = {
        "EulerDiscreteScheduler": load("scheduling_euler_discrete").EulerDiscreteScheduler,
        "EulerAncestralDiscreteScheduler": load("scheduling_euler_ancestral_discrete").EulerAncestralDiscreteScheduler,
        "LMSDiscreteScheduler": lms.LMSDiscreteScheduler,
        "DPMSolverMultistepScheduler": load("scheduling_dpmsolver_multistep").DPMSolverMultistepScheduler,
        "DDIMScheduler": load("scheduling_ddim").DDIMScheduler,
        "PNDMScheduler": load("scheduling_pndm").PNDMScheduler,
        "LCMScheduler": load("scheduling_lcm").LCMScheduler,
    }
    ns = {"torch": torch, "np": np, "randn_tensor": torch_utils.randn_tensor}
    extract(os.path.join(root, "models", "autoencoders", "vae.py"), ["DiagonalGaussianDistribution"], ns)
    pipes = os.path.join(root, "pipelines", "stable_diffusion")
    no_pil = types.SimpleNamespace(Image=types.SimpleNamespace(Image=type(None)))
    img2img_ns = dict(ns, deprecate=lambda *a, **k: None, PIL=no_pil)
    img2img = extract(os.path.join(pipes, "pipeline_stable_diffusion_img2img.py"),
                      ["retrieve_latents", "StableDiffusionImg2ImgPipeline.get_timesteps",
                       "StableDiffusionImg2ImgPipeline.prepare_latents"], img2img_ns)
    inpaint_ns = dict(ns)
    inpaint = extract(os.path.join(pipes, "pipeline_stable_diffusion_inpaint.py"),
                      ["retrieve_latents", "StableDiffusionInpaintPipeline.prepare_latents",
                       "StableDiffusionInpaintPipeline._encode_vae_image",
                       "StableDiffusionInpaintPipeline.prepare_mask_latents"], inpaint_ns)
    return classes, ns["DiagonalGaussianDistribution"], img2img, inpaint


# --------------------------------------------------------------------------------------------------------------
# Configurations (hub scheduler_config.json files, as in docs/engine-reference.md §4.6)
# --------------------------------------------------------------------------------------------------------------
SD_TRAIN = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
            "trained_betas": None}
SD15 = {"_class_name": "PNDMScheduler", **SD_TRAIN, "set_alpha_to_one": False, "skip_prk_steps": True,
        "steps_offset": 1, "clip_sample": False}
SDXL = {"_class_name": "EulerDiscreteScheduler", **SD_TRAIN, "interpolation_type": "linear",
        "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True,
        "steps_offset": 1, "timestep_spacing": "leading", "use_karras_sigmas": False}
SD21 = {"_class_name": "DDIMScheduler", **SD_TRAIN, "clip_sample": False, "prediction_type": "v_prediction",
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1}
LCM = {"_class_name": "LCMScheduler", **SD_TRAIN, "clip_sample": False, "original_inference_steps": 50,
       "prediction_type": "epsilon", "set_alpha_to_one": True, "steps_offset": 0, "timestep_scaling": 10.0}
CONFIGS = {"SD15": SD15, "SDXL": SDXL, "SD21": SD21, "LCM": LCM}

SAMPLER_CLASS = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
                 "lms": "LMSDiscreteScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler",
                 "dpmpp_2m_karras": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler", "pndm": "PNDMScheduler",
                 "lcm": "LCMScheduler"}


def make_scheduler(classes, sampler, config):
    extra = {"use_karras_sigmas": sampler == "dpmpp_2m_karras"} if sampler.startswith("dpmpp") else {}
    return classes[SAMPLER_CLASS[sampler]].from_config(config, **extra)


def f32(x):
    return float(np.float32(x))


class Pipe:
    """Stands in for the pipeline object the extracted methods are bound to."""

    def __init__(self, scheduler, parameters=None, scaling_factor=0.18215, dgd=None):
        self.scheduler = scheduler
        self.vae_scale_factor = 8
        vae = types.SimpleNamespace(config=types.SimpleNamespace(scaling_factor=scaling_factor))
        # encode() ignores the image: fixed latent parameters, so only the generator order is being reproduced.
        vae.encode = lambda image: types.SimpleNamespace(latent_dist=dgd(parameters.clone()))
        self.vae = vae


# --------------------------------------------------------------------------------------------------------------
# 1. Strength -> timesteps (docs/engine-reference.md §4.10)
# --------------------------------------------------------------------------------------------------------------
def schedules(classes, img2img):
    """For each case: the timesteps a diffusers img2img run denoises at, the begin index and the noise level at the
    start. diffusers' StableDiffusionImg2ImgPipeline: scheduler.set_timesteps(N), then its get_timesteps(N, strength)
    (which also calls set_begin_index). LCM: LatentConsistencyModelImg2ImgPipeline passes the strength to
    LCMScheduler.set_timesteps instead (no get_timesteps, begin index 0)."""
    cases = [("SD15", s, 20) for s in ["pndm", "euler", "euler_a", "lms", "ddim", "dpmpp_2m", "dpmpp_2m_karras"]]
    cases += [("SDXL", "euler", 30), ("SD21", "ddim", 50), ("LCM", "lcm", 4)]
    strengths = [0.05, 0.3, 0.5, 0.75, 1.0]
    out = []
    for config_name, sampler, n in cases:
        for strength in strengths:
            sch = make_scheduler(classes, sampler, CONFIGS[config_name])
            row = {"config": config_name, "sampler": sampler, "steps": n, "strength": strength}
            if sampler == "lcm":
                try:
                    sch.set_timesteps(n, strength=strength)
                except ValueError as err:
                    row["error"] = str(err)
                    out.append(row)
                    continue
                timesteps, steps, begin = sch.timesteps, n, 0
            else:
                sch.set_timesteps(n)
                pipe = Pipe(sch)
                timesteps, steps = img2img["StableDiffusionImg2ImgPipeline.get_timesteps"](pipe, n, strength, "cpu")
                # PNDM, DDIM and LCM have no set_begin_index: their step() finds its place by timestep value.
                begin = len(sch.timesteps) - len(timesteps)
            row.update({"beginIndex": begin, "denoisingSteps": int(steps),
                        "timesteps": [float(t) for t in timesteps]})
            if len(timesteps) > 0:
                if hasattr(sch, "sigmas") and sampler != "dpmpp_2m" and sampler != "dpmpp_2m_karras":
                    row["startSigma"] = float(sch.sigmas[begin])
                elif sampler.startswith("dpmpp"):
                    alpha_t, sigma_t = sch._sigma_to_alpha_sigma_t(sch.sigmas[begin])
                    row["startAlphaSigma"] = [float(alpha_t), float(sigma_t)]
                else:
                    a = sch.alphas_cumprod[int(timesteps[0])]
                    row["startAlphaSigma"] = [float(a ** 0.5), float((1 - a) ** 0.5)]
            out.append(row)
    return out


# --------------------------------------------------------------------------------------------------------------
# 2. add_noise (docs/engine-reference.md §4.9)
# --------------------------------------------------------------------------------------------------------------
def mock_x0(n=16):
    return torch.tensor([f32(math.sin(i + 1)) for i in range(n)], dtype=torch.float32).reshape(1, 4, 2, 2)


def mock_noise(c, n=16):
    return torch.tensor([f32(math.cos(16 * c + i)) for i in range(n)], dtype=torch.float32).reshape(1, 4, 2, 2)


def add_noise(classes, img2img):
    """scheduler.add_noise(x0, noise, timesteps[:1]) right after get_timesteps, as prepare_latents calls it:
    x0[i] = f32(sin(i + 1)), noise[i] = f32(cos(i)), 16 values, SD15 config, 20 steps, strength 0.6."""
    out = {}
    for sampler in ["euler", "euler_a", "lms", "ddim", "pndm", "dpmpp_2m", "dpmpp_2m_karras", "lcm"]:
        sch = make_scheduler(classes, sampler, LCM if sampler == "lcm" else SD15)
        if sampler == "lcm":
            sch.set_timesteps(4, strength=0.6)
            timesteps = sch.timesteps
        else:
            sch.set_timesteps(20)
            timesteps, _ = img2img["StableDiffusionImg2ImgPipeline.get_timesteps"](Pipe(sch), 20, 0.6, "cpu")
        noisy = sch.add_noise(mock_x0(), mock_noise(0), timesteps[:1])
        out[sampler] = [float(v) for v in noisy.flatten()]
    return out


# --------------------------------------------------------------------------------------------------------------
# 3. Mock denoising loops (docs/engine-reference.md §4.10): the pipeline loops written out as in diffusers
# --------------------------------------------------------------------------------------------------------------
class MockNoise:
    """The c-th draw returns f32(cos(16c + i)) (the §4.7 convention); stands in for the generator in step()."""

    def __init__(self):
        self.calls = 0

    def next(self):
        value = mock_noise(self.calls)
        self.calls += 1
        return value


def patch_randn(mock):
    """Ancestral schedulers draw through randn_tensor(shape, generator=...): route every draw to the mock."""
    def fake(shape, generator=None, device=None, dtype=None, layout=None):
        return mock.next()
    for name, mod in list(sys.modules.items()):
        if name.startswith("diffusers.schedulers.") and hasattr(mod, "randn_tensor"):
            mod.randn_tensor = fake


def mock_model(x, t):
    """§4.7's mock model plus a term that mixes each value with its predecessor in C order (so the kept and
    repainted cells of the inpainting mock influence each other): m = xin·0.1 + roll(xin, 1)·0.05 + f32(t)·1e-4,
    roll(x, 1)[i] = x[i − 1 mod 16]."""
    rolled = torch.roll(x.flatten(), 1).reshape(x.shape)
    return x * 0.1 + rolled * 0.05 + f32(float(t)) * 1e-4


def loops(classes, img2img):
    """img2img: latents = add_noise(x0, noise #0, first timestep); then for each remaining timestep
    xin = scale_model_input(latents, t); m = mock_model(xin, t); latents = step(m, t, latents).
    inpaint (4-channel blend, StableDiffusionInpaintPipeline with num_channels_unet == 4): the same, and after each
    step latents = (1 − mask)·proper + mask·latents, proper = add_noise(x0, noise #0, next timestep) (x0 itself after
    the last step); latent mask [1, 1, 2, 2] = [[1, 1], [0, 0]]: the top row is repainted, the bottom row kept.
    Noise draw #0 is the add_noise noise; ancestral draws continue from #1. SD15 config (LCM: Dreamshaper), 10 steps
    (LCM 4), strength 0.6."""
    out = {}
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    for mode in ["img2img", "inpaint"]:
        for sampler in ["euler", "euler_a", "lms", "ddim", "pndm", "dpmpp_2m", "dpmpp_2m_karras", "lcm"]:
            sch = make_scheduler(classes, sampler, LCM if sampler == "lcm" else SD15)
            if sampler == "lcm":
                sch.set_timesteps(4, strength=0.6)
                timesteps = sch.timesteps
            else:
                sch.set_timesteps(10)
                timesteps, _ = img2img["StableDiffusionImg2ImgPipeline.get_timesteps"](Pipe(sch), 10, 0.6, "cpu")
            gen = MockNoise()
            patch_randn(gen)
            noise = gen.next()
            x0 = mock_x0()
            latents = sch.add_noise(x0, noise, timesteps[:1])
            for i, t in enumerate(timesteps):
                xin = sch.scale_model_input(latents, t)
                latents = sch.step(mock_model(xin, t), t, latents, return_dict=False)[0]
                if mode == "inpaint":
                    proper = x0
                    if i < len(timesteps) - 1:
                        proper = sch.add_noise(x0, noise, torch.tensor([timesteps[i + 1]]))
                    latents = (1 - mask) * proper + mask * latents
            flat = latents.flatten()
            out[f"{mode}/{sampler}"] = {"first4": [float(v) for v in flat[:4]], "sum": float(flat.sum()),
                                        "absSum": float(flat.abs().sum()), "all": [float(v) for v in flat]}
    return out


# --------------------------------------------------------------------------------------------------------------
# 4. Generator order with latent_parameters (docs/engine-reference.md §7.6)
# --------------------------------------------------------------------------------------------------------------
def parameters(h=2, w=4):
    """Latent parameters [1, 8, h, w]: mean[i] = f32(sin(0.37·i)), logvar[i] = f32(−6 + 30·cos(0.11·i)) (reaching
    past both clamp limits, −30 and 20), i counting over the 4·h·w values of each half."""
    n = 4 * h * w
    mean = [f32(math.sin(0.37 * i)) for i in range(n)]
    logvar = [f32(-6 + 30 * math.cos(0.11 * i)) for i in range(n)]
    return torch.tensor(mean + logvar, dtype=torch.float32).reshape(1, 8, h, w)


def next_draw(generator):
    return [float(v) for v in torch.randn((1, 4, 2, 4), generator=generator).flatten()]


def generator_order(classes, dgd, img2img, inpaint):
    """diffusers' own prepare_latents / prepare_mask_latents on a stand-in VAE that returns `parameters()`, with
    torch.Generator().manual_seed(seed), SD15 config, Euler, 20 steps:
    - latentSample: DiagonalGaussianDistribution(parameters).sample(generator) × 0.18215 (the first draw);
    - img2img (strength 0.5): StableDiffusionImg2ImgPipeline.prepare_latents -> the noised start latents;
    - inpaint4 / inpaint9 (strength 0.5 and 1.0): StableDiffusionInpaintPipeline.prepare_latents(return_noise=True,
      return_image_latents = 4-channel UNet) then prepare_mask_latents (which encodes the masked image), in
      __call__'s order; reports the start latents, the noise, the image latents and the masked-image latents;
    - nextDraw: the generator's next randn((1, 4, 2, 4)) after each case (where its stream stands)."""
    seed = 1234
    params = parameters()
    out = {"seed": seed, "parameters": [float(v) for v in params.flatten()]}
    g = torch.Generator().manual_seed(seed)
    out["latentSample"] = [float(v) for v in (0.18215 * dgd(params.clone()).sample(g)).flatten()]
    g = torch.Generator().manual_seed(seed)
    out["randn32"] = [float(v) for v in torch.randn((1, 4, 2, 4), generator=g).flatten()]

    def scheduler(strength):
        sch = make_scheduler(classes, "euler", SD15)
        sch.set_timesteps(20)
        pipe = Pipe(sch, params, dgd=dgd)
        timesteps, _ = img2img["StableDiffusionImg2ImgPipeline.get_timesteps"](pipe, 20, strength, "cpu")
        return pipe, timesteps

    pipe, timesteps = scheduler(0.5)
    image = torch.zeros(1, 3, 16, 32)
    g = torch.Generator().manual_seed(seed)
    prepare = img2img["StableDiffusionImg2ImgPipeline.prepare_latents"]
    latents = prepare(pipe, image, timesteps[:1], 1, 1, torch.float32, "cpu", g)
    # nextDraw: what the generator gives next (an ancestral step's noise), i.e. where the stream stands afterwards.
    out["img2img"] = {"latents": [float(v) for v in latents.flatten()], "nextDraw": next_draw(g)}

    for channels in [4, 9]:
        for strength in [0.5, 1.0]:
            pipe, timesteps = scheduler(strength)
            pipe._encode_vae_image = types.MethodType(inpaint["StableDiffusionInpaintPipeline._encode_vae_image"], pipe)
            g = torch.Generator().manual_seed(seed)
            result = inpaint["StableDiffusionInpaintPipeline.prepare_latents"](
                pipe, 1, 4, 16, 32, torch.float32, "cpu", g, None, image=image, timestep=timesteps[:1],
                is_strength_max=strength == 1.0, return_noise=True, return_image_latents=channels == 4)
            mask = torch.zeros(1, 1, 16, 32)
            _, masked_latents = inpaint["StableDiffusionInpaintPipeline.prepare_mask_latents"](
                pipe, mask, image, 1, 16, 32, torch.float32, "cpu", g, False)
            entry = {"latents": [float(v) for v in result[0].flatten()],
                     "noise": [float(v) for v in result[1].flatten()],
                     "maskedImageLatents": [float(v) for v in masked_latents.flatten()]}
            if channels == 4:
                entry["imageLatents"] = [float(v) for v in result[2].flatten()]
            entry["nextDraw"] = next_draw(g)
            out[f"inpaint{channels}/{strength}"] = entry
    return out


# --------------------------------------------------------------------------------------------------------------
# 5. Pillow's Lanczos resize and luma (docs/engine-reference.md §6.4, §6.5)
# --------------------------------------------------------------------------------------------------------------
def test_image(w, h, channels, kind):
    """Synthetic 8-bit images: 'noise' = ((x·7919 + y·104729 + c·15485863) xor (x·y)) & 255 (high frequencies, so the
    negative Lanczos lobes and the clipping matter); 'ramp' = (x·255 // (w − 1) + 3y + 40c) mod 256."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    planes = []
    for c in range(channels):
        if kind == "noise":
            planes.append(((x * 7919 + y * 104729 + c * 15485863) ^ (x * y)) & 255)
        else:
            planes.append((x * 255 // max(w - 1, 1) + 3 * y + 40 * c) % 256)
    return np.stack(planes, -1).astype(np.uint8)


def pillow():
    """sha256 of image.resize((W, H), Image.LANCZOS) for test images (mode RGB, or L for one channel), and the
    first bytes, plus convert("L") of a few RGB pixels. diffusers' VaeImageProcessor resizes PIL images this way."""
    import hashlib
    from PIL import Image
    import PIL
    cases = [(13, 7, 3, "noise", 8, 4), (13, 7, 3, "noise", 24, 16), (13, 7, 3, "ramp", 8, 16),
             (640, 480, 3, "noise", 512, 512), (300, 200, 3, "ramp", 512, 320), (97, 61, 1, "noise", 64, 48),
             (64, 48, 1, "noise", 64, 32), (64, 48, 3, "noise", 40, 48), (17, 9, 1, "ramp", 200, 100)]
    out = {"version": PIL.__version__, "resize": []}
    for w, h, c, kind, ow, oh in cases:
        a = test_image(w, h, c, kind)
        im = Image.fromarray(a[..., 0], "L") if c == 1 else Image.fromarray(a, "RGB")
        r = np.asarray(im.resize((ow, oh), Image.LANCZOS))
        out["resize"].append({"width": w, "height": h, "channels": c, "kind": kind, "outWidth": ow, "outHeight": oh,
                              "sha256": hashlib.sha256(r.tobytes()).hexdigest(), "first": r.flatten()[:6].tolist()})
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [1, 2, 3], [250, 128, 7]]], dtype=np.uint8)
    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    out["luma"] = {"rgb": rgb.flatten().tolist(), "L": gray.flatten().tolist()}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diffusers", required=True, help="diffusers' src/ folder (the one containing diffusers/)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    classes, dgd, img2img, inpaint = install_shim(os.path.abspath(args.diffusers))
    result = {
        "schedules": schedules(classes, img2img),
        "addNoise": add_noise(classes, img2img),
        "loops": loops(classes, img2img),
        "generatorOrder": generator_order(classes, dgd, img2img, inpaint),
        "pillow": pillow(),
    }
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
