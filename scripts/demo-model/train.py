"""Train the sdapi demo latent diffusion model on the synthetic shape world and export it as a diffusers-style
ONNX Stable Diffusion 1.x folder.

    /usr/bin/python3 scripts/demo-model/train.py --out models/demo          # full run (--minutes of UNet training)
    /usr/bin/python3 scripts/demo-model/train.py --out /tmp/demo --quick    # smoke test (~2 min)

Stages: tokenizer -> held-out split -> dataset -> autoencoder -> latents -> text encoder + UNet -> ONNX export.
"""
import argparse
import json
import os
import random
import sys
import time

# Passive OpenMP waiting: on a shared 2-core machine, spinning worker threads make each step several times slower
# whenever another process takes a core. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe as bpe_mod  # noqa: E402
import common  # noqa: E402
import models  # noqa: E402
import world  # noqa: E402

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_tensor(imgs):
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class EMA:
    def __init__(self, modules, decay):
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay
        self.n = 0

    @torch.no_grad()
    def update(self):
        self.n += 1
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        for s, p in zip(self.shadow, self.params):
            s.mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self):
        for s, p in zip(self.shadow, self.params):
            p.copy_(s)


def lr_at(step, total, peak, warm, progress=None):
    if step < warm:
        return peak * (step + 1) / warm
    p = (step - warm) / max(1, total - warm) if progress is None else progress
    return peak * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, p))))


def new_decoder():
    return models.Decoder(list(world.PALETTE.values()))


def load_autoencoder(ck):
    """The encoder and decoder of a checkpoint written by this script, in eval mode."""
    enc, dec = models.Encoder(), new_decoder()
    enc.load_state_dict(ck["enc"])
    dec.load_state_dict(ck["dec"])
    return enc.eval(), dec.eval()


def train_autoencoder(imgs, args, rng):
    enc, dec = models.Encoder(), new_decoder()
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=args.ae_lr, weight_decay=0.0)
    n = len(imgs)
    for step in range(args.ae_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.ae_steps, args.ae_lr, 50)
        x = to_tensor(imgs[rng.integers(0, n, args.ae_batch)])
        z = enc(x)
        # Latent noise (0 to --ae-noise std, per image) makes the decoder snap imperfect latents from the diffusion
        # model back to flat colours and straight edges instead of passing their error through as speckle.
        level = args.ae_noise * torch.rand(z.shape[0], 1, 1, 1)
        zn = z + level * z.detach().std() * torch.randn_like(z)
        logits = dec.logits(zn)
        y = F.conv2d(torch.softmax(logits, dim=1), dec.palette)
        # Cross-entropy on each pixel's palette colour (crisp edges), MSE on the mixed colour (anti-aliasing).
        rec = F.cross_entropy(logits, dec.labels(x)) + F.mse_loss(y, x)
        loss = rec + 1e-4 * z.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.ae_steps - 1:
            log(f"ae step {step}/{args.ae_steps} rec {rec.item():.4f} zstd {z.std().item():.3f}")
    enc.eval()
    dec.eval()
    return enc, dec


@torch.no_grad()
def encode_all(enc, imgs, bs=512):
    out = []
    for i in range(0, len(imgs), bs):
        out.append(enc(to_tensor(imgs[i:i + bs])))
    return torch.cat(out)


@torch.no_grad()
def ae_preview(enc, dec, imgs, noise, path):
    """Rows: originals, reconstructions, reconstructions from latents with the largest training noise."""
    from PIL import Image
    x = to_tensor(imgs)
    z = enc(x)
    rows = [x, dec(z), dec(z + noise * z.std() * torch.randn_like(z))]
    pic = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)
    pic = ((pic.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(pic).save(path)
    log(f"autoencoder preview -> {path}")


def check_caption_tokens(tok, text):
    """Every training caption must tokenise to whole-word tokens."""
    toks = tok.tokens(text)
    assert toks == [w + "</w>" for w in text.split()], (text, toks)


def train_diffusion(latents, scenes, tok, args, rng, snapshot=None, init=None):
    te = models.TextEncoder(len(tok.encoder), d=args.text_dim, layers=args.text_layers, heads=4)
    unet = models.UNet(ctx_dim=args.text_dim, c=args.unet_ch, heads=4, layout=args.layout, layout_convs=args.layout_convs)
    if init is not None:
        te.load_state_dict(init["te"])
        unet.load_state_dict(init["unet"])
    params = list(te.parameters()) + list(unet.parameters())
    log(f"text encoder params {sum(p.numel() for p in te.parameters())}, unet params "
        f"{sum(p.numel() for p in unet.parameters())}")
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = EMA([te, unet], args.ema)
    ac = common.alphas_cumprod()
    cache = {}

    def ids_for(text):
        if text not in cache:
            if text:
                check_caption_tokens(tok, text)
            cache[text] = tok.encode(text)
        return cache[text]

    n = len(latents)
    t_start = time.time()
    run_loss = None
    # The schedule runs on whichever is further along, the step count or the wall-clock budget (--minutes): on a
    # shared machine the run then ends on time, with a fully decayed learning rate, however fast the steps were.
    budget = args.minutes * 60
    step = 0
    while True:
        progress = max(step / args.steps, (time.time() - t_start) / budget if budget > 0 else 0.0)
        if progress >= 1:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, 200, progress)
        idx = rng.integers(0, n, args.batch)
        texts = ["" if rng.random() < args.uncond else world.caption(scenes[i], rng) for i in idx]
        ids = torch.tensor([ids_for(s) for s in texts], dtype=torch.int32)
        x0 = latents[idx].float()
        t = torch.from_numpy(rng.integers(0, common.T, args.batch))
        eps = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
        a = ac[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        v = a.sqrt() * eps - (1 - a).sqrt() * x0
        ctx, _ = te(ids)
        # Keys after the longest caption's EOS are EOS copies: cut them, weighted exactly (see UNet.forward).
        keys = int(ids.argmax(dim=-1).max()) + 1
        plans = []
        pred = unet(xt, t.float(), ctx[:, :keys], last_copies=ctx.shape[1] - keys + 1, predict_v=True, plan_out=plans)
        # v-loss, down-weighted where SNR > gamma - 1 (Min-SNR, Hang et al. 2023): the nearly clean steps only
        # polish detail, and their large gradients would otherwise slow down learning the layout.
        snr = a.flatten() / (1 - a.flatten())
        weight = torch.clamp(args.min_snr / (snr + 1), max=1.0)
        loss = (weight * (pred - v).pow(2).mean(dim=(1, 2, 3))).mean()
        if plans:
            # The plan's auxiliary head regresses the clean latent from the caption alone (see models.Layout).
            loss = loss + args.aux * (plans[0] - x0).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update()
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if snapshot is not None and step > 0 and step % args.snapshot_every == 0:
            snapshot(te, unet, ema, step)
        if step % 50 == 0:
            el = time.time() - t_start
            log(f"unet step {step}/{args.steps} loss {run_loss:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{el / (step + 1):.3f}s/step progress {progress:.3f}")
        step += 1
    log(f"unet training stopped after {step} steps, {(time.time() - t_start) / 60:.1f} min")
    args.steps_done = step
    ema.copy_to()
    te.eval()
    unet.eval()
    return te, unet


def export(out, tok, enc, dec, te, unet, scaling, args):
    models.EXPORT = True
    opset = 14
    for sub in ["text_encoder", "unet", "vae_decoder", "vae_encoder", "scheduler", "tokenizer"]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    tok.save(os.path.join(out, "tokenizer"))
    ids = torch.tensor([tok.encode("a red circle on a blue background"), tok.encode("")], dtype=torch.int32)
    with torch.no_grad():
        torch.onnx.export(te, (ids,), os.path.join(out, "text_encoder", "model.onnx"), opset_version=opset,
                          input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "last_hidden_state": {0: "batch", 1: "sequence"},
                                        "pooler_output": {0: "batch"}}, do_constant_folding=True)
        ctx, _ = te(ids)
        s = torch.randn(2, 4, 16, 16)
        torch.onnx.export(unet, (s, torch.tensor([500.0]), ctx), os.path.join(out, "unet", "model.onnx"),
                          opset_version=opset, input_names=["sample", "timestep", "encoder_hidden_states"],
                          output_names=["out_sample"],
                          dynamic_axes={"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
                                        "encoder_hidden_states": {0: "batch", 1: "sequence"},
                                        "out_sample": {0: "batch", 2: "height", 3: "width"}},
                          do_constant_folding=True)

        class Dec(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.dec = dec

            def forward(self, latent_sample):
                return self.dec(latent_sample)

        class Enc(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = enc

            def forward(self, sample):
                return self.enc(sample)

        torch.onnx.export(Dec(), (torch.randn(1, 4, 16, 16),), os.path.join(out, "vae_decoder", "model.onnx"),
                          opset_version=opset, input_names=["latent_sample"], output_names=["sample"],
                          dynamic_axes={"latent_sample": {0: "batch", 2: "height", 3: "width"},
                                        "sample": {0: "batch", 2: "height", 3: "width"}}, do_constant_folding=True)
        torch.onnx.export(Enc(), (torch.randn(1, 3, 64, 64),), os.path.join(out, "vae_encoder", "model.onnx"),
                          opset_version=opset, input_names=["sample"], output_names=["latent_sample"],
                          dynamic_axes={"sample": {0: "batch", 2: "height", 3: "width"},
                                        "latent_sample": {0: "batch", 2: "height", 3: "width"}},
                          do_constant_folding=True)
    models.EXPORT = False
    import onnx
    for sub in ["text_encoder", "unet", "vae_decoder", "vae_encoder"]:
        onnx.checker.check_model(onnx.load(os.path.join(out, sub, "model.onnx")))

    def wj(path, obj):
        with open(os.path.join(out, path), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    wj("model_index.json", {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": "0.6.0",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
    })
    wj("scheduler/scheduler_config.json", {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.6.0",
        "beta_end": common.BETA_END,
        "beta_schedule": "scaled_linear",
        "beta_start": common.BETA_START,
        "clip_sample": False,
        "num_train_timesteps": common.T,
        "prediction_type": "epsilon",
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "trained_betas": None,
    })
    wj("unet/config.json", {
        "_class_name": "SdapiDemoUNet",
        "sample_size": 16,
        "in_channels": 4,
        "out_channels": 4,
        "cross_attention_dim": args.text_dim,
        # Three levels (16, 8, 4 latent px at 64 px): latent multiple 4 * 2^(3-1) = 16 px.
        "block_out_channels": [args.unet_ch, 2 * args.unet_ch, 4 * args.unet_ch],
        "attention_head_dim": 4,
    })
    wj("text_encoder/config.json", {
        "_class_name": "SdapiDemoTextEncoder",
        "hidden_size": args.text_dim,
        "num_hidden_layers": args.text_layers,
        "num_attention_heads": 4,
        "max_position_embeddings": bpe_mod.MAX_LEN,
        "vocab_size": len(tok.encoder),
        "eos_token_id": tok.eot_id,
        "hidden_act": "quick_gelu",
    })
    vae = {
        "_class_name": "SdapiDemoAutoencoder",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "sample_size": 64,
        # Three entries: vae_scale_factor 2^(3-1) = 4 (64 px images, 16x16 latents), as diffusers derives it.
        "block_out_channels": [32, 64, 64],
        "scaling_factor": scaling,
    }
    wj("vae_decoder/config.json", vae)
    wj("vae_encoder/config.json", vae)


def write_heldout(out):
    heldout = world.heldout_split()
    with open(os.path.join(out, "heldout.json"), "w") as f:
        json.dump({
            "description": "Colour x shape x background triples never shown in training (images or captions), and "
                           "the content test's captions: each has at least one held-out triple.",
            "palette": {k: list(v) for k, v in world.PALETTE.items()},
            "shapes": world.SHAPES,
            "sizes": world.SIZES,
            "positions": {k: list(v) for k, v in world.POSITIONS.items()},
            "triples": [list(t) for t in heldout],
            "captions": world.heldout_captions(),
        }, f, indent=1)
        f.write("\n")
    return heldout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="models/demo")
    ap.add_argument("--quick", action="store_true", help="tiny smoke-test run (~2 min)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=40000)
    ap.add_argument("--ae-steps", type=int, default=2500)
    ap.add_argument("--ae-noise", type=float, default=0.1, help="largest latent noise (x std) the decoder learns to undo")
    ap.add_argument("--ae-batch", type=int, default=32)
    ap.add_argument("--ae-lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=62.0, help="wall-clock budget of the UNet training")
    ap.add_argument("--snapshot-every", type=int, default=250)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--uncond", type=float, default=0.1, help="caption dropout for classifier-free guidance")
    ap.add_argument("--min-snr", type=float, default=5.0, help="Min-SNR gamma of the v-loss weighting")
    ap.add_argument("--layout", type=int, default=32, help="channels of the UNet's caption plan (models.Layout), 0 = none")
    ap.add_argument("--layout-convs", type=int, default=2, help="3x3 convolutions at the end of the caption plan")
    ap.add_argument("--aux", type=float, default=1.0, help="weight of the plan's clean-latent regression loss")
    ap.add_argument("--text-dim", type=int, default=96)
    ap.add_argument("--text-layers", type=int, default=4)
    ap.add_argument("--unet-ch", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export-from", default="", help="only export this checkpoint (no training)")
    ap.add_argument("--ckpt", default="", help="also save a torch checkpoint here (for scripts/demo-model/eval.py)")
    ap.add_argument("--ae-from", default="", help="take the autoencoder from this checkpoint instead of training it")
    ap.add_argument("--resume", default="", help="continue from this checkpoint (or .partial snapshot): its autoencoder "
                    "and weights, a fresh optimiser and learning-rate schedule")
    args = ap.parse_args()
    if args.quick:
        args.images, args.ae_steps, args.steps, args.ema, args.snapshot_every = 3000, 100, 150, 0.99, 50
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    log("args", vars(args))

    # Tokenizer: our own vocabulary in CLIP BPE format.
    tok = bpe_mod.build(world.vocabulary_words())
    log(f"tokenizer: {len(tok.merges)} merges, {len(tok.encoder)} tokens")

    if args.export_from:
        # Re-export a saved checkpoint (no training).
        ck = torch.load(args.export_from)
        for k in ("text_dim", "text_layers", "unet_ch"):
            setattr(args, k, ck["args"][k])
        args.layout = ck["args"].get("layout", 0)
        args.layout_convs = ck["args"].get("layout_convs", 2)
        assert [tuple(m) for m in ck["merges"]] == tok.merges
        te = models.TextEncoder(len(tok.encoder), d=args.text_dim, layers=args.text_layers, heads=4)
        unet = models.UNet(ctx_dim=args.text_dim, c=args.unet_ch, heads=4, layout=args.layout, layout_convs=args.layout_convs)
        enc, dec = load_autoencoder(ck)
        for m, k in ((te, "te"), (unet, "unet")):
            m.load_state_dict(ck[k])
            m.eval()
        write_heldout(args.out)
        export(args.out, tok, enc, dec, te, unet, ck["scaling"], args)
        log(f"exported {args.export_from} to {args.out}")
        return

    # Held-out split.
    heldout = write_heldout(args.out)
    hset = set(heldout)
    log(f"held-out triples: {len(heldout)} of {len(world.all_triples())}")

    # Dataset.
    scenes = [world.random_scene(rng, hset) for _ in range(args.images)]
    imgs = np.stack([world.render(s) for s in scenes])
    for s in scenes[:2000]:
        check_caption_tokens(tok, world.full_caption(s))
    log(f"rendered {len(imgs)} images")

    init = None
    if args.ae_from:
        # Reuse a finished autoencoder (same seed and world: the one this command would train).
        ae = torch.load(args.ae_from)
        assert ae["args"]["seed"] == args.seed and ae["args"]["images"] == args.images
        enc, dec = load_autoencoder(ae)
        log(f"autoencoder from {args.ae_from}")
    elif args.resume:
        init = torch.load(args.resume)
        assert [tuple(m) for m in init["merges"]] == tok.merges
        for k in ("text_dim", "text_layers", "unet_ch"):
            assert getattr(args, k) == init["args"][k], k
        enc, dec = load_autoencoder(init)
        log(f"resuming from {args.resume} (step {init['step']})")
    else:
        enc, dec = train_autoencoder(imgs, args, rng)
    with torch.no_grad():
        lat = encode_all(enc, imgs)
        std = lat.std().item()
        scaling = 1.0 / std
        x = to_tensor(imgs[:256])
        err = (dec(enc(x)) - x).abs().mean().item()
    log(f"latents mean {lat.mean().item():.3f} std {std:.3f} -> scaling_factor {scaling:.5f}; ae L1 {err:.4f}")
    if args.ckpt:
        ae_preview(enc, dec, imgs[:16], args.ae_noise, args.ckpt + ".ae.png")
    latents = (lat * scaling).half()  # half precision: 40k x 4x16x16 latents in 82 MB
    del imgs

    def save(path, te_sd, unet_sd, step):
        torch.save({"args": vars(args), "te": te_sd, "unet": unet_sd, "enc": enc.state_dict(),
                    "dec": dec.state_dict(), "scaling": scaling, "merges": tok.merges, "step": step}, path)

    def snapshot(te, unet, ema, step):
        """Periodic EMA snapshot (a fallback if a run must be stopped early)."""
        if not args.ckpt:
            return
        live = [p.detach().clone() for p in ema.params]
        ema.copy_to()
        save(args.ckpt + ".partial", te.state_dict(), unet.state_dict(), step)
        with torch.no_grad():
            for p, v in zip(ema.params, live):
                p.copy_(v)
        log(f"snapshot at step {step} -> {args.ckpt}.partial")

    te, unet = train_diffusion(latents, scenes, tok, args, rng, snapshot, init)
    log(f"training done: {(time.time() - T0) / 60:.1f} min")
    if args.ckpt:
        save(args.ckpt, te.state_dict(), unet.state_dict(), args.steps_done)
    export(args.out, tok, enc, dec, te, unet, scaling, args)
    total = 0
    for root, _, files in os.walk(args.out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    log(f"exported to {args.out}: {total / 1e6:.2f} MB; total wall time {(time.time() - T0) / 60:.1f} min")


if __name__ == "__main__":
    main()
