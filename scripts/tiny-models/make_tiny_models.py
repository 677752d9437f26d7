#!/usr/bin/python3
"""Builds the tiny random-weight Stable Diffusion ONNX folders used by the engine tests.

Run with Debian's interpreter (torch 1.13 + onnx):  npm run models:tiny
  /usr/bin/python3 scripts/tiny-models/make_tiny_models.py            -> models/tiny/{sd1,sd2-v,sdxl,lcm}
  /usr/bin/python3 scripts/tiny-models/make_tiny_models.py --midsize OUTDIR
                                                                      -> one sd1-style folder whose UNet is big
                                                                         enough (>= 50 ms per call) for the bench

The architectures are miniatures of the real ones (CLIP text encoder with causal attention and a final layer
norm, a UNet with timestep embedding, cross-attention and one down/up level, a VAE decoder that upsamples 8x),
with random weights from a fixed seed. What must be exact is the I/O contract of each exporter generation
(names, dtypes, ranks, dynamic-axis names, external-data file names) — see docs/models.md:

  sd1    diffusers convert script: int32 input_ids, float timestep [batch], UNet weights in weights.pb,
         vae_encoder -> latent_sample, PNDM config as the SD1.5 hub (no timestep_spacing key), pad <|endoftext|>.
  sd2-v  optimum <= 1.22: int64 ids, int64 timestep [steps], model.onnx_data, DDIM v_prediction, pad "!" (=0)
         through special_tokens_map.json.
  sdxl   optimum 1.23: two encoders with hidden_states.* outputs, text_embeds on encoder 2, UNet with
         text_embeds/time_ids, int64 timestep [steps], vae_encoder -> latent_parameters, scaling 0.13025,
         Euler leading, force_zeros_for_empty_prompt.
  lcm    optimum >= 1.24: float scalar timestep [], UNet timestep_cond [B,256], LCM scheduler config, and a
         vae_approx/model.onnx preview decoder.
  sd1-inpaint  optimum >= 1.24 SD 1.x inpainting model: a 9-channel UNet (latents, mask, masked-image latents)
         wired as an idealised inpainting model, a block autoencoder (latent cell = 8x8 block mean, decoded back as
         flat blocks), vae_encoder -> latent_parameters, DDIM config.

Every folder has a vae_encoder for image-to-image: latent_sample in sd1 and sd2-v (sampled in-graph, as those
exporters do), latent_parameters in sdxl, lcm and sd1-inpaint (sampled by the engine with the request's generator).
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

SEQ = 77
OPSET = 14

# --------------------------------------------------------------------------------------------------------------
# Tokenizer: a CLIP BPE vocabulary learned (deterministically) from a small prompt corpus. Same layout as
# OpenAI's: 256 byte symbols, the same with </w>, the merges in rank order, then <|startoftext|>, <|endoftext|>
# (so, as in CLIP, the eos id is the largest id and pooling at argmax(input_ids) finds it).
# --------------------------------------------------------------------------------------------------------------
CORPUS = """
a photograph of an astronaut riding a horse on the moon, highly detailed, sharp focus, 8k
a cat sitting on a red chair in the garden, oil painting by a famous artist, trending on artstation
portrait of a woman with blue eyes and long hair, cinematic lighting, studio photo, bokeh
a beautiful landscape with mountains and a lake at sunset, digital art, fantasy, vibrant colors
a dog running in the snow, photo, realistic, ultra detailed; blurry, low quality, ugly, deformed
sailing ship in storm by leonardo da vinci, anime style, comic book, line art, pixel art, 3d model
hello world, the quick brown fox jumps over the lazy dog, neon punk, isometric, origami, low poly
"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn_bpe(num_merges):
    import re
    b2u = bytes_to_unicode()
    words = {}
    for w in re.findall(r"[a-z]+", CORPUS.lower()):
        syms = tuple(b2u[b] for b in w.encode("utf-8"))
        syms = syms[:-1] + (syms[-1] + "</w>",)
        words[syms] = words.get(syms, 0) + 1
    merges = []
    for _ in range(num_merges):
        pairs = {}
        for syms, freq in words.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + freq
        if not pairs:
            break
        best = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        merges.append(best)
        merged = {}
        for syms, freq in words.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + freq
        words = merged
    return merges


def write_tokenizer(folder, pad_token):
    """pad_token: None => CLIP-L style (<|endoftext|> everywhere); "!" => SD2 style (special map overrides)."""
    os.makedirs(folder, exist_ok=True)
    b2u = bytes_to_unicode()
    vocab_list = list(b2u.values())
    vocab_list += [v + "</w>" for v in vocab_list]
    merges = learn_bpe(200)
    vocab_list += ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    special = {
        "bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "eos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "pad_token": pad_token or "<|endoftext|>",
        "unk_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
    }
    write_json(os.path.join(folder, "special_tokens_map.json"), special)
    # As in the SD2 hub files, tokenizer_config.json keeps <|endoftext|>; special_tokens_map.json wins.
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_prefix_space": False,
        "bos_token": "<|startoftext|>",
        "do_lower_case": True,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": SEQ,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": "<|endoftext|>",
    })
    return len(vocab)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# --------------------------------------------------------------------------------------------------------------
# Text encoder (CLIPTextModel / CLIPTextModelWithProjection in miniature)
# --------------------------------------------------------------------------------------------------------------
class ClipLayer(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * 4)
        self.fc2 = nn.Linear(dim * 4, dim)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        h = self.fc1(self.ln2(x))
        h = h * torch.sigmoid(1.702 * h)  # quick_gelu, as CLIP ViT-L
        return x + self.fc2(h)


class TextEncoder(nn.Module):
    def __init__(self, vocab, dim, layers, heads, projection=None, hidden_states=False):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(SEQ, dim) * 0.02)
        self.layers = nn.ModuleList([ClipLayer(dim, heads) for _ in range(layers)])
        self.final_ln = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, projection, bias=False) if projection else None
        self.hidden_states = hidden_states
        self.register_buffer("causal", torch.full((SEQ, SEQ), float("-inf")).triu(1))

    def forward(self, input_ids):
        n = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos[:n]
        mask = self.causal[:n, :n]
        states = [x]
        for layer in self.layers:
            x = layer(x, mask)
            states.append(x)
        last = self.final_ln(x)
        eos = input_ids.to(torch.int64).argmax(-1)  # first max = first <|endoftext|>
        pooled = last.gather(1, eos[:, None, None].expand(-1, 1, last.shape[2])).squeeze(1)
        outs = []
        if self.proj is not None:
            outs.append(self.proj(pooled))  # text_embeds
            outs.append(last)
        else:
            outs += [last, pooled]
        if self.hidden_states:
            outs += states
        return tuple(outs)


# --------------------------------------------------------------------------------------------------------------
# UNet
# --------------------------------------------------------------------------------------------------------------
def sinusoidal(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # flip_sin_to_cos=True, as SD


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        if emb is not None:
            h = h + self.t(F.silu(emb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(ctx_dim, dim, bias=False)
        self.v = nn.Linear(ctx_dim, dim, bias=False)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, ctx):
        b, n, c = x.shape
        h = self.heads
        q = self.q(x).reshape(b, n, h, c // h).transpose(1, 2)
        k = self.k(ctx).reshape(b, ctx.shape[1], h, c // h).transpose(1, 2)
        v = self.v(ctx).reshape(b, ctx.shape[1], h, c // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)
        return self.o((w @ v).transpose(1, 2).reshape(b, n, c))


class TransformerBlock(nn.Module):
    """SD's Transformer2DModel with one BasicTransformerBlock: self-attn, cross-attn, feed-forward."""

    def __init__(self, dim, ctx_dim, heads=2):
        super().__init__()
        self.norm = nn.GroupNorm(8, dim)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = Attention(dim, dim, heads)
        self.cross_attn = Attention(dim, ctx_dim, heads)
        self.ff1 = nn.Linear(dim, dim * 2)
        self.ff2 = nn.Linear(dim * 2, dim)
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, ctx):
        b, c, hh, ww = x.shape
        t = self.proj_in(self.norm(x)).reshape(b, c, hh * ww).transpose(1, 2)
        h1 = self.ln1(t)
        t = t + self.self_attn(h1, h1)
        t = t + self.cross_attn(self.ln2(t), ctx)
        t = t + self.ff2(F.gelu(self.ff1(self.ln3(t))))
        return x + self.proj_out(t.transpose(1, 2).reshape(b, c, hh, ww))


class UNet(nn.Module):
    def __init__(self, ctx_dim, ch=(16, 32), temb=64, add_embeds=None, time_cond_dim=None, add_time_dim=8):
        super().__init__()
        c1, c2 = ch
        self.temb_in = temb // 2
        self.cond_proj = nn.Linear(time_cond_dim, self.temb_in, bias=False) if time_cond_dim else None
        self.t1 = nn.Linear(self.temb_in, temb)
        self.t2 = nn.Linear(temb, temb)
        self.add_time_dim = add_time_dim
        if add_embeds is not None:  # SDXL "text_time" addition embedding
            text_dim, n_ids = add_embeds
            self.a1 = nn.Linear(n_ids * add_time_dim + text_dim, temb)
            self.a2 = nn.Linear(temb, temb)
        self.conv_in = nn.Conv2d(4, c1, 3, padding=1)
        self.down_res = ResBlock(c1, c1, temb)
        self.down_attn = TransformerBlock(c1, ctx_dim)
        self.down = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.mid_res = ResBlock(c1, c2, temb)
        self.mid_attn = TransformerBlock(c2, ctx_dim)
        self.up = nn.Conv2d(c2, c2, 3, padding=1)
        self.up_res = ResBlock(c2 + c1, c1, temb)
        self.up_attn = TransformerBlock(c1, ctx_dim)
        self.norm_out = nn.GroupNorm(8, c1)
        self.conv_out = nn.Conv2d(c1, 4, 3, padding=1)

    def embed(self, sample, timestep, timestep_cond=None, text_embeds=None, time_ids=None):
        b = sample.shape[0]
        t = timestep.to(torch.float32).reshape(-1).expand(b)  # [1] / [] broadcast to the batch, as the exports do
        e = sinusoidal(t, self.temb_in)
        if timestep_cond is not None:
            e = e + self.cond_proj(timestep_cond)
        emb = self.t2(F.silu(self.t1(e)))
        if text_embeds is not None:
            ids = sinusoidal(time_ids.reshape(-1), self.add_time_dim).reshape(b, -1)
            emb = emb + self.a2(F.silu(self.a1(torch.cat([text_embeds, ids], dim=-1))))
        return emb

    def body(self, sample, emb, ctx):
        h = self.conv_in(sample)
        h = self.down_attn(self.down_res(h, emb), ctx)
        skip = h
        h = self.down(h)
        h = self.mid_attn(self.mid_res(h, emb), ctx)
        # Upsample to the skip's size (as diffusers' forward_upsample_size), so odd latent sizes work too.
        h = self.up(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
        h = self.up_attn(self.up_res(torch.cat([h, skip], dim=1), emb), ctx)
        return self.conv_out(F.silu(self.norm_out(h)))


class UNetSD(UNet):
    def forward(self, sample, timestep, encoder_hidden_states):
        return self.body(sample, self.embed(sample, timestep), encoder_hidden_states)


class UNetXL(UNet):
    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        emb = self.embed(sample, timestep, text_embeds=text_embeds, time_ids=time_ids)
        return self.body(sample, emb, encoder_hidden_states)


class UNetLCM(UNet):
    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond):
        return self.body(sample, self.embed(sample, timestep, timestep_cond=timestep_cond), encoder_hidden_states)


# --------------------------------------------------------------------------------------------------------------
# VAE
# --------------------------------------------------------------------------------------------------------------
class VaeDecoder(nn.Module):
    def __init__(self, ch=(32, 16, 16, 16)):
        super().__init__()
        self.post_quant = nn.Conv2d(4, 4, 1)
        self.conv_in = nn.Conv2d(4, ch[0], 3, padding=1)
        self.mid = ResBlock(ch[0], ch[0], 1)
        self.ups = nn.ModuleList([nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(3)])  # 3 x 2 = 8x
        self.norm_out = nn.GroupNorm(8, ch[3])
        self.conv_out = nn.Conv2d(ch[3], 3, 3, padding=1)

    def forward(self, latent_sample):
        h = self.mid(self.conv_in(self.post_quant(latent_sample)), None)
        for up in self.ups:
            h = F.silu(up(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return self.conv_out(F.silu(self.norm_out(h)))


class VaeEncoder(nn.Module):
    def __init__(self, parameters_output):
        super().__init__()
        self.parameters_output = parameters_output
        self.conv_in = nn.Conv2d(3, 16, 3, padding=1)
        self.downs = nn.ModuleList([nn.Conv2d(16, 16, 3, stride=2, padding=1) for _ in range(3)])
        self.conv_out = nn.Conv2d(16, 8, 3, padding=1)
        # A constant log-variance, as narrow as a trained VAE's posterior, set without drawing from the RNG (the
        # modules made after this one keep their weights). latent_sample graphs sample in-graph with ONNX Runtime's
        # unseeded RandomNormalLike: at logvar -40 (clamped to -30, std 3e-7) that only touches the last bits, so
        # image-to-image tests on them are reproducible to within rounding. latent_parameters ones are sampled by the
        # engine with the request's generator: std e^-3 ~ 0.05 makes that draw visible in the latents.
        with torch.no_grad():
            self.conv_out.weight[4:] = 0
            self.conv_out.bias[4:] = -6.0 if parameters_output else -40.0

    def forward(self, sample):
        h = self.conv_in(sample)
        for d in self.downs:
            h = F.silu(d(h))
        moments = self.conv_out(h)
        if self.parameters_output:
            return moments  # latent_parameters: mean || logvar, sampled by the host
        mean, logvar = moments[:, :4], moments[:, 4:].clamp(-30.0, 20.0)
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # latent_sample, drawn in-graph


class BlockVaeEncoder(nn.Module):
    """An exact little autoencoder for the inpainting model: each latent cell is the mean of its 8x8 pixel block
    (R, G, B and their average, times 1/scaling so the scaled latents lie in [-1, 1]); latent_parameters with a
    constant log-variance of -14 (std 9e-4, i.e. a tenth of an 8-bit level after decoding)."""

    def __init__(self, scaling):
        super().__init__()
        self.gain = 1.0 / scaling

    def forward(self, sample):
        rgb = F.avg_pool2d(sample, 8) * self.gain
        mean = torch.cat([rgb, rgb.mean(dim=1, keepdim=True)], dim=1)
        return torch.cat([mean, torch.full_like(mean, -14.0)], dim=1)


class BlockVaeDecoder(nn.Module):
    """The inverse of BlockVaeEncoder: every pixel of a block gets its cell's colour, so a round trip is an 8x8 box
    average of the image."""

    def __init__(self, scaling):
        super().__init__()
        self.scaling = scaling

    def forward(self, latent_sample):
        return F.interpolate(latent_sample[:, :3] * self.scaling, scale_factor=8.0, mode="nearest")


def sd_sigma_table():
    """float32 sigma_t = sqrt((1 - alphabar_t) / alphabar_t) of the SD scaled_linear schedule, t = 0..999."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


class UNetInpaint(UNet):
    """A 9-channel inpainting UNet (sample = latents 4 + mask 1 + masked-image latents 4, diffusers' order), wired as
    an idealised inpainting model: where the mask is 0 (keep) it predicts the noise that makes every sampler's x0
    prediction the masked-image latents, eps = (x - sqrt(abar_t) z) / sqrt(1 - abar_t) with abar_t = 1 / (sigma_t^2 + 1)
    and sigma_t interpolated in the SD table at the (possibly fractional) timestep; where it is 1 (repaint), the
    random UNet body. So the kept region comes back as the masked image's VAE round trip only if the channels arrive
    in the right order, and the repainted one is new."""

    def __init__(self, ctx_dim):
        super().__init__(ctx_dim)
        self.conv_in = nn.Conv2d(9, self.conv_in.out_channels, 3, padding=1)
        self.register_buffer("sigmas", sd_sigma_table())

    def forward(self, sample, timestep, encoder_hidden_states):
        body = self.body(sample, self.embed(sample, timestep), encoder_hidden_states)
        x, mask, z = sample[:, :4], sample[:, 4:5], sample[:, 5:9]
        t = timestep.to(torch.float32).reshape(-1)[:1]
        lo = torch.clamp(torch.floor(t), 0, 998)
        w = t - lo
        i = lo.to(torch.int64)
        sigma = self.sigmas[i] * (1 - w) + self.sigmas[i + 1] * w
        alpha_bar = 1 / (sigma * sigma + 1)
        eps = (x - torch.sqrt(alpha_bar) * z) / torch.sqrt(1 - alpha_bar)
        return mask * body + (1 - mask) * eps


class VaeApprox(nn.Module):
    """Preview decoder (vae_approx/model.onnx): latents [B,4,h,w] -> RGB [B,3,2h,2w] in [-1,1], like A1111's VAE-approx."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, latent_sample):
        h = F.silu(self.c1(latent_sample))
        return torch.tanh(self.c2(F.interpolate(h, scale_factor=2.0, mode="nearest")))


# --------------------------------------------------------------------------------------------------------------
# Export helpers
# --------------------------------------------------------------------------------------------------------------
def export(module, args, path, input_names, output_names, dynamic_axes, external=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    if external:
        # Re-save with every initializer in one external file, as the exporters do for the > 2 GB UNet.
        model = onnx.load(path)
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external, size_threshold=0)


def export_text_encoder(enc, path, ids_dtype, optimum, names):
    ids = torch.full((1, SEQ), 3, dtype=ids_dtype)
    ids[0, 5] = enc.tok.num_embeddings - 1
    b, s = ("batch_size", "sequence_length") if optimum else ("batch", "sequence")
    axes = {"input_ids": {0: b, 1: s}}
    for n in names:
        axes[n] = {0: b} if n in ("pooler_output", "text_embeds") else {0: b, 1: s}
    export(enc, (ids,), path, ["input_ids"], names, axes)


def unet_axes(optimum, names, timestep_axis):
    b, s = ("batch_size", "sequence_length") if optimum else ("batch", "sequence")
    axes = {"sample": {0: b, 2: "height", 3: "width"}, "encoder_hidden_states": {0: b, 1: s},
            "out_sample": {0: b, 2: "height", 3: "width"}}
    if not optimum:
        axes["sample"][1] = "channels"
    if timestep_axis:
        axes["timestep"] = {0: timestep_axis}
    for n in names:
        if n in ("text_embeds", "time_ids", "timestep_cond"):
            axes[n] = {0: b}
    return axes


def export_vae(folder, optimum, encoder_kind, scaling, vae_ch=(32, 16, 16, 16)):
    b = "batch_size" if optimum else "batch"
    dec = VaeDecoder(vae_ch)
    export(dec, (torch.randn(1, 4, 8, 8),), os.path.join(folder, "vae_decoder", "model.onnx"), ["latent_sample"],
           ["sample"], {"latent_sample": {0: b, 2: "latent_height", 3: "latent_width"},
                        "sample": {0: b, 2: "height", 3: "width"}})
    vae_config = {"_class_name": "AutoencoderKL", "block_out_channels": [16, 16, 16, 32], "in_channels": 3,
                  "latent_channels": 4, "out_channels": 3, "sample_size": 64, "scaling_factor": scaling,
                  "force_upcast": scaling == 0.13025}
    write_json(os.path.join(folder, "vae_decoder", "config.json"), vae_config)
    if encoder_kind:
        enc = VaeEncoder(encoder_kind == "latent_parameters")
        export(enc, (torch.randn(1, 3, 64, 64),), os.path.join(folder, "vae_encoder", "model.onnx"), ["sample"],
               [encoder_kind], {"sample": {0: b, 2: "height", 3: "width"},
                                encoder_kind: {0: b, 2: "latent_height", 3: "latent_width"}})
        write_json(os.path.join(folder, "vae_encoder", "config.json"), vae_config)


def unet_config(sample_size, cross_dim, channels=(16, 32), **extra):
    # down_block_types states what the UNet needs of the latent size (the engine's latentMultiple is
    # vae_scale x 2^(down blocks - 1)). A traced diffusers UNet with N blocks needs multiples of 2^(N-1); this one
    # upsamples back to its skip connection's exact size (UNet.body), so like a one-block UNet it takes any latent
    # size: one block, 8 px. block_out_channels lists the widths of its two resolution levels.
    cfg = {"_class_name": "UNet2DConditionModel", "sample_size": sample_size, "in_channels": 4, "out_channels": 4,
           "cross_attention_dim": cross_dim, "block_out_channels": list(channels),
           "down_block_types": ["CrossAttnDownBlock2D"]}
    cfg.update(extra)
    return cfg


SCALED_LINEAR = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "num_train_timesteps": 1000, "trained_betas": None}


# --------------------------------------------------------------------------------------------------------------
# The four generations
# --------------------------------------------------------------------------------------------------------------
def make_sd1(folder, unet_ch=(16, 32), sample_size=8):
    torch.manual_seed(1)
    vocab = write_tokenizer(os.path.join(folder, "tokenizer"), None)
    te = TextEncoder(vocab, 32, 2, 2)
    export_text_encoder(te, os.path.join(folder, "text_encoder", "model.onnx"), torch.int32, False,
                        ["last_hidden_state", "pooler_output"])
    unet = UNetSD(32, ch=unet_ch)
    h = sample_size
    export(unet, (torch.randn(2, 4, h, h), torch.tensor([981.0, 981.0]), torch.randn(2, SEQ, 32)),
           os.path.join(folder, "unet", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], unet_axes(False, [], "batch"), external="weights.pb")
    write_json(os.path.join(folder, "unet", "config.json"), unet_config(sample_size, 32, unet_ch))
    export_vae(folder, False, "latent_sample", 0.18215)
    # The SD1.5 hub scheduler config (diffusers 0.6.0): note the absent timestep_spacing key.
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), {
        "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", **SCALED_LINEAR, "clip_sample": False,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1})
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": "0.6.0",
        "feature_extractor": [None, None], "safety_checker": [None, None], "requires_safety_checker": False,
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"], "vae_encoder": ["diffusers", "OnnxRuntimeModel"]})


def make_sd2v(folder):
    torch.manual_seed(2)
    vocab = write_tokenizer(os.path.join(folder, "tokenizer"), "!")
    te = TextEncoder(vocab, 48, 2, 2)
    export_text_encoder(te, os.path.join(folder, "text_encoder", "model.onnx"), torch.int64, True,
                        ["last_hidden_state", "pooler_output"])
    write_json(os.path.join(folder, "text_encoder", "config.json"), {"_class_name": "CLIPTextModel", "hidden_size": 48})
    unet = UNetSD(48)
    export(unet, (torch.randn(2, 4, 8, 8), torch.tensor([981, 981]), torch.randn(2, SEQ, 48)),
           os.path.join(folder, "unet", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
           ["out_sample"], unet_axes(True, [], "steps"), external="model.onnx_data")
    write_json(os.path.join(folder, "unet", "config.json"), unet_config(12, 48))
    export_vae(folder, True, "latent_sample", 0.18215)
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), {
        "_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SCALED_LINEAR, "clip_sample": False,
        "prediction_type": "v_prediction", "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1})
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "ORTStableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "vae_encoder": ["optimum", "ORTModelVaeEncoder"]})


def make_sdxl(folder):
    torch.manual_seed(3)
    vocab = write_tokenizer(os.path.join(folder, "tokenizer"), None)
    write_tokenizer(os.path.join(folder, "tokenizer_2"), "!")
    te1 = TextEncoder(vocab, 32, 2, 2, hidden_states=True)
    export_text_encoder(te1, os.path.join(folder, "text_encoder", "model.onnx"), torch.int64, True,
                        ["last_hidden_state", "pooler_output"] + [f"hidden_states.{i}" for i in range(3)])
    te2 = TextEncoder(vocab, 48, 3, 2, projection=40, hidden_states=True)
    export_text_encoder(te2, os.path.join(folder, "text_encoder_2", "model.onnx"), torch.int64, True,
                        ["text_embeds", "last_hidden_state"] + [f"hidden_states.{i}" for i in range(4)])
    write_json(os.path.join(folder, "text_encoder", "config.json"), {"_class_name": "CLIPTextModel", "hidden_size": 32})
    write_json(os.path.join(folder, "text_encoder_2", "config.json"),
               {"_class_name": "CLIPTextModelWithProjection", "hidden_size": 48, "projection_dim": 40})
    unet = UNetXL(80, add_embeds=(40, 6))
    names = ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]
    export(unet, (torch.randn(2, 4, 8, 8), torch.tensor([981, 981]), torch.randn(2, SEQ, 80), torch.randn(2, 40),
                  torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2)),
           os.path.join(folder, "unet", "model.onnx"), names, ["out_sample"], unet_axes(True, names, "steps"),
           external="model.onnx_data")
    write_json(os.path.join(folder, "unet", "config.json"), unet_config(
        16, 80, addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=88))
    export_vae(folder, True, "latent_parameters", 0.13025)
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), {
        "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0", **SCALED_LINEAR,
        "interpolation_type": "linear", "prediction_type": "epsilon", "sample_max_value": 1.0,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
        "use_karras_sigmas": False})
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "ORTStableDiffusionXLPipeline", "_diffusers_version": "0.30.0",
        "force_zeros_for_empty_prompt": True, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["optimum", "ORTModelTextEncoder"], "text_encoder_2": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["optimum", "ORTModelUnet"], "vae_decoder": ["optimum", "ORTModelVaeDecoder"],
        "vae_encoder": ["optimum", "ORTModelVaeEncoder"]})


def make_lcm(folder):
    torch.manual_seed(4)
    vocab = write_tokenizer(os.path.join(folder, "tokenizer"), None)
    te = TextEncoder(vocab, 32, 2, 2)
    export_text_encoder(te, os.path.join(folder, "text_encoder", "model.onnx"), torch.int64, True,
                        ["last_hidden_state", "pooler_output"])
    write_json(os.path.join(folder, "text_encoder", "config.json"), {"_class_name": "CLIPTextModel", "hidden_size": 32})
    unet = UNetLCM(32, time_cond_dim=256)
    names = ["sample", "timestep", "encoder_hidden_states", "timestep_cond"]
    export(unet, (torch.randn(1, 4, 8, 8), torch.tensor(999.0), torch.randn(1, SEQ, 32), torch.randn(1, 256)),
           os.path.join(folder, "unet", "model.onnx"), names, ["out_sample"], unet_axes(True, names, None),
           external="model.onnx_data")
    write_json(os.path.join(folder, "unet", "config.json"), unet_config(8, 32, time_cond_proj_dim=256))
    export_vae(folder, True, "latent_parameters", 0.18215)
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), {
        "_class_name": "LCMScheduler", "_diffusers_version": "0.22.0", **SCALED_LINEAR, "clip_sample": False,
        "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.995, "original_inference_steps": 50,
        "prediction_type": "epsilon", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
        "set_alpha_to_one": True, "steps_offset": 1, "thresholding": False, "timestep_scaling": 10.0,
        "timestep_spacing": "leading"})
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "ORTLatentConsistencyModelPipeline", "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", "LCMScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "vae_encoder": ["optimum", "ORTModelVaeEncoder"]})
    # Last, so the modules above keep their seeded weights: the optional preview decoder (docs/models.md).
    export(VaeApprox(), (torch.randn(1, 4, 8, 8),), os.path.join(folder, "vae_approx", "model.onnx"), ["latent_sample"],
           ["sample"], {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
                        "sample": {0: "batch_size", 2: "height", 3: "width"}})


def make_sd1_inpaint(folder):
    """An SD 1.x inpainting model (9-channel UNet) as optimum >= 1.24 exports one (float scalar timestep,
    latent_parameters encoder), with the block autoencoder, so VAE round trips are simple to reason about."""
    torch.manual_seed(5)
    vocab = write_tokenizer(os.path.join(folder, "tokenizer"), None)
    te = TextEncoder(vocab, 32, 2, 2)
    export_text_encoder(te, os.path.join(folder, "text_encoder", "model.onnx"), torch.int64, True,
                        ["last_hidden_state", "pooler_output"])
    write_json(os.path.join(folder, "text_encoder", "config.json"), {"_class_name": "CLIPTextModel", "hidden_size": 32})
    unet = UNetInpaint(32)
    names = ["sample", "timestep", "encoder_hidden_states"]
    export(unet, (torch.randn(2, 9, 8, 8), torch.tensor(999.0), torch.randn(2, SEQ, 32)),
           os.path.join(folder, "unet", "model.onnx"), names, ["out_sample"], unet_axes(True, names, None),
           external="model.onnx_data")
    write_json(os.path.join(folder, "unet", "config.json"), unet_config(8, 32, in_channels=9))
    scaling = 0.18215
    export(BlockVaeDecoder(scaling), (torch.randn(1, 4, 8, 8),), os.path.join(folder, "vae_decoder", "model.onnx"),
           ["latent_sample"], ["sample"], {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
                                           "sample": {0: "batch_size", 2: "height", 3: "width"}})
    export(BlockVaeEncoder(scaling), (torch.randn(1, 3, 64, 64),), os.path.join(folder, "vae_encoder", "model.onnx"),
           ["sample"], ["latent_parameters"], {"sample": {0: "batch_size", 2: "height", 3: "width"},
                                               "latent_parameters": {0: "batch_size", 2: "latent_height", 3: "latent_width"}})
    vae_config = {"_class_name": "AutoencoderKL", "block_out_channels": [16, 16, 16, 32], "in_channels": 3,
                  "latent_channels": 4, "out_channels": 3, "sample_size": 64, "scaling_factor": scaling}
    write_json(os.path.join(folder, "vae_decoder", "config.json"), vae_config)
    write_json(os.path.join(folder, "vae_encoder", "config.json"), vae_config)
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), {
        "_class_name": "DDIMScheduler", "_diffusers_version": "0.6.0", **SCALED_LINEAR, "clip_sample": False,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1})
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "ORTStableDiffusionInpaintPipeline", "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "vae_encoder": ["optimum", "ORTModelVaeEncoder"]})


def build(folder, maker, *args):
    """Builds into a temp dir next to the target and swaps it in, so a failed run leaves the old folder."""
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    maker(tmp, *args)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.rename(tmp, folder)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
    print(f"{folder}: {size / 1024:.0f} KiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "models", "tiny"),
                        help="parent folder of the tiny models (default: models/tiny)")
    parser.add_argument("--midsize", metavar="OUTDIR",
                        help="instead, build one sd1-style model with a bench-sized UNet into OUTDIR")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.midsize:
        # 256x256 images (32x32 latents) with 128/256 channels: a UNet call takes tens of ms on 2 cores.
        build(args.midsize, make_sd1, (128, 256), 32)
        return
    out = os.path.normpath(args.out)
    build(os.path.join(out, "sd1"), make_sd1)
    build(os.path.join(out, "sd2-v"), make_sd2v)
    build(os.path.join(out, "sdxl"), make_sdxl)
    build(os.path.join(out, "lcm"), make_lcm)
    build(os.path.join(out, "sd1-inpaint"), make_sd1_inpaint)


if __name__ == "__main__":
    sys.exit(main())
