"""Evaluate a trained demo model (torch checkpoint from train.py --ckpt) on the held-out captions, write the sample
grid, and optionally reference outputs for the ONNX check (check-onnx.mjs).

    /usr/bin/python3 scripts/demo-model/eval.py --ckpt /tmp/demo.pt --heldout models/demo/heldout.json \
        --grid docs/demo-grid.png --ref /tmp/demo-ref.json
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe as bpe_mod  # noqa: E402
import common  # noqa: E402
import models  # noqa: E402
import world  # noqa: E402


def load(path):
    ck = torch.load(path)
    a = ck["args"]
    tok = bpe_mod.BPE([tuple(m) for m in ck["merges"]])
    te = models.TextEncoder(len(tok.encoder), d=a["text_dim"], layers=a["text_layers"], heads=4)
    unet = models.UNet(ctx_dim=a["text_dim"], c=a["unet_ch"], heads=4)
    enc, dec = models.Encoder(), models.Decoder()
    te.load_state_dict(ck["te"])
    unet.load_state_dict(ck["unet"])
    enc.load_state_dict(ck["enc"])
    dec.load_state_dict(ck["dec"])
    for m in (te, unet, enc, dec):
        m.eval()
    return tok, te, unet, enc, dec, ck["scaling"]


# ---------------------------------------------------------------------------------------------------------------
# Detector (mirrored by test/demo-model/detector.ts)

def classify(img, palette):
    names = list(palette)
    pal = np.array([palette[n] for n in names], dtype=np.float32)
    px = img.reshape(-1, 3).astype(np.float32)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(-1)
    lab = d.argmin(1)
    lab[np.sqrt(d.min(1)) > 90] = -1
    lab = lab.reshape(img.shape[:2])
    h, w = lab.shape
    # Background from a ring 2..4 px inside the edge (the decoder's outermost pixels carry padding artefacts).
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.minimum(np.minimum(yy, h - 1 - yy), np.minimum(xx, w - 1 - xx))
    border = lab[(edge >= 2) & (edge < 5)]
    border = border[border >= 0]
    bg = int(np.bincount(border, minlength=len(names)).argmax()) if len(border) else -1
    rest = lab[(lab >= 0) & (lab != bg)]
    counts = np.bincount(rest, minlength=len(names)) if len(rest) else np.zeros(len(names), int)
    sc = int(counts.argmax()) if counts.max() >= 8 else -1
    shape = None
    if sc >= 0:
        m = lab == sc
        ys, xs = np.nonzero(m)
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        bb = m[y0:y1 + 1, x0:x1 + 1]
        fill = bb.mean()
        widths = bb.sum(1)
        p = np.nonzero(widths == widths.max())[0].mean() / max(1, len(widths) - 1)
        q = (widths >= 0.85 * widths.max()).mean()
        yy = np.arange(len(widths), dtype=np.float64)
        corr = np.corrcoef(yy, widths)[0, 1] if len(widths) > 2 and widths.std() > 0 else 0.0
        if fill > 0.86:
            shape = "square"
        elif fill > 0.68:
            shape = "circle"
        elif fill < 0.43:
            shape = "star"
        elif corr > 0.8:
            shape = "triangle"
        elif q > 0.22 and fill > 0.52:
            shape = "cross"
        elif p > 0.7:
            shape = "triangle"
        else:
            shape = "diamond"
    red_share = float((lab == names.index("red")).mean())
    return dict(bg=names[bg] if bg >= 0 else None, colour=names[sc] if sc >= 0 else None, shape=shape,
                red_share=red_share)


# ---------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def generate(tok, te, unet, dec, scaling, prompts, seeds, cfg=7.0, steps=20, negative=""):
    ids = torch.tensor([tok.encode(p) for p in prompts], dtype=torch.int32)
    cond, _ = te(ids)
    uncond, _ = te(torch.tensor([tok.encode(negative)] * len(prompts), dtype=torch.int32))
    x = torch.stack([torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds])
    lat = common.ddim_sample(unet, cond, uncond, x, steps=steps, cfg=cfg)
    img = dec(lat / scaling)
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return img


def run_eval(tok, te, unet, dec, scaling, held, seeds_per=2):
    pal = {k: tuple(v) for k, v in held["palette"].items()}
    caps = held["captions"]
    res = {}
    for cfg in (7.0, 1.0):
        c_ok = b_ok = s_ok = both = n = 0
        for si in range(seeds_per):
            prompts = [c["caption"] for c in caps]
            seeds = [1000 * si + i for i in range(len(caps))]
            imgs = generate(tok, te, unet, dec, scaling, prompts, seeds, cfg=cfg)
            for c, im in zip(caps, imgs):
                d = classify(im, pal)
                n += 1
                c_ok += d["colour"] == c["colour"]
                b_ok += d["bg"] == c["background"]
                s_ok += d["shape"] == c["shape"]
                both += d["colour"] == c["colour"] and d["bg"] == c["background"]
        res[cfg] = dict(n=n, colour=c_ok / n, background=b_ok / n, shape=s_ok / n, both=both / n)
        print(f"cfg {cfg}: n={n} shape colour {c_ok / n:.3f} background {b_ok / n:.3f} shape {s_ok / n:.3f} "
              f"both {both / n:.3f}", flush=True)
    # Negative prompt "red" on red-shape captions.
    reds = [c for c in caps if c["colour"] == "red"] or caps[:8]
    prompts = [c["caption"] for c in reds] * 3
    seeds = list(range(len(prompts)))
    a = generate(tok, te, unet, dec, scaling, prompts, seeds, cfg=7.0)
    b = generate(tok, te, unet, dec, scaling, prompts, seeds, cfg=7.0, negative="red")
    ra = np.mean([classify(im, pal)["red_share"] for im in a])
    rb = np.mean([classify(im, pal)["red_share"] for im in b])
    print(f"negative 'red': red share {ra:.4f} -> {rb:.4f} over {len(prompts)} images", flush=True)
    res["negative_red"] = (ra, rb)
    return res


def grid(tok, te, unet, dec, scaling, held, path):
    from PIL import Image, ImageDraw
    hc = held["captions"]
    caps = [hc[i * len(hc) // 8]["caption"] for i in range(8)]  # held-out (never seen in training)
    caps += ["a small yellow square in the top left corner on a blue background",
             "a large red circle on a white background",
             "a green star at the bottom on a black background",
             "a pink triangle on the right on a gray background",
             "a blue diamond and an orange circle on a yellow background",
             "a purple cross in the center on a white background",
             "a small white circle in the bottom right corner on a red background",
             "a large black square on an orange background"]
    imgs = generate(tok, te, unet, dec, scaling, caps, list(range(len(caps))), cfg=7.0)
    cell, tw, th = 128, 184, 166
    cols = 4
    rows = (len(caps) + cols - 1) // cols
    G = Image.new("RGB", (cols * tw, rows * th), (255, 255, 255))
    dr = ImageDraw.Draw(G)
    for i, (c, im) in enumerate(zip(caps, imgs)):
        x, y = (i % cols) * tw, (i // cols) * th
        G.paste(Image.fromarray(im).resize((cell, cell), Image.NEAREST), (x + (tw - cell) // 2, y + 2))
        words, lines, cur = c.split(), [], ""
        for wd in words:
            if len(cur) + len(wd) + 1 > 29:
                lines.append(cur)
                cur = wd
            else:
                cur = (cur + " " + wd).strip()
        lines.append(cur)
        for j, ln in enumerate(lines[:3]):
            dr.text((x + 4, y + cell + 4 + 9 * j), ln, fill=(0, 0, 0))
    G.save(path, optimize=True)
    print("wrote", path)


def write_ref(tok, te, unet, dec, enc, path):
    models.EXPORT = True
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        caps = ["a red circle on a blue background", ""]
        ids = torch.tensor([tok.encode(c) for c in caps], dtype=torch.int32)
        h, p = te(ids)
        s = torch.randn(2, 4, 8, 8, generator=g)
        o = unet(s, torch.tensor([321.0]), h)
        z = torch.randn(1, 4, 8, 8, generator=g)
        y = dec(z)
        img = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
        e = enc(img)
    models.EXPORT = False
    f = lambda t: [round(float(v), 7) for v in t.flatten()]  # noqa: E731
    with open(path, "w") as fh:
        json.dump(dict(captions=caps, ids=ids.flatten().tolist(), last_hidden_state=f(h), pooler_output=f(p),
                       sample=f(s), timestep=321.0, out_sample=f(o), latent=f(z), decoded=f(y), image=f(img),
                       encoded=f(e)), fh)
    print("wrote", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--heldout", default="models/demo/heldout.json")
    ap.add_argument("--grid", default="")
    ap.add_argument("--ref", default="")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok, te, unet, enc, dec, scaling = load(args.ckpt)
    held = json.load(open(args.heldout))
    if args.ref:
        write_ref(tok, te, unet, dec, enc, args.ref)
    if args.grid:
        grid(tok, te, unet, dec, scaling, held, args.grid)
    if not args.no_eval:
        t = time.time()
        run_eval(tok, te, unet, dec, scaling, held, args.seeds)
        print(f"eval took {time.time() - t:.1f}s")


if __name__ == "__main__":
    main()
