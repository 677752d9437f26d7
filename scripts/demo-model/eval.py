"""Write the sample grid of a trained demo model (torch checkpoint from train.py --ckpt) and optionally reference
outputs for the ONNX check (check-onnx.mjs). The content figures come from the engine:
DEMO_MODEL_DIR=<export> node --import tsx --test test/demo-model/content.test.ts

    /usr/bin/python3 scripts/demo-model/eval.py --ckpt /tmp/demo.pt --heldout models/demo/heldout.json \
        --grid docs/demo-grid.png --ref /tmp/demo-ref.json
"""
import argparse
import json
import os
import sys

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
    unet = models.UNet(ctx_dim=a["text_dim"], c=a["unet_ch"], heads=4, layout=a.get("layout", 0), layout_convs=a.get("layout_convs", 2))
    enc, dec = models.Encoder(), models.Decoder(list(world.PALETTE.values()))
    te.load_state_dict(ck["te"])
    unet.load_state_dict(ck["unet"])
    enc.load_state_dict(ck["enc"])
    dec.load_state_dict(ck["dec"])
    for m in (te, unet, enc, dec):
        m.eval()
    return tok, te, unet, enc, dec, ck["scaling"]


@torch.no_grad()
def generate(tok, te, unet, dec, scaling, prompts, seeds, cfg=7.0, steps=20, negative=""):
    ids = torch.tensor([tok.encode(p) for p in prompts], dtype=torch.int32)
    cond, _ = te(ids)
    uncond, _ = te(torch.tensor([tok.encode(negative)] * len(prompts), dtype=torch.int32))
    x = torch.stack([torch.randn(4, 16, 16, generator=torch.Generator().manual_seed(s)) for s in seeds])
    lat = common.ddim_sample(unet, cond, uncond, x, steps=steps, cfg=cfg)
    img = dec(lat / scaling)
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return img


def grid(tok, te, unet, dec, scaling, held, path):
    from PIL import Image, ImageDraw
    hc = [c["caption"] for c in held["captions"]]
    # Held-out captions (never seen in training): one-object ones, then two-object ones.
    caps = [hc[i * 60 // 6] for i in range(6)] + [hc[60 + i * 30 // 4] for i in range(4)]
    caps += ["a small yellow square in the top left corner on a blue background",
             "a large red circle on a white background",
             "a green star at the bottom on a black background",
             "a pink triangle on the right on a gray background",
             "a blue diamond and an orange circle on a yellow background",
             "a purple cross in the center on a white background",
             "a small white circle in the bottom right corner on a red background",
             "a large black square on an orange background",
             "a red triangle on the left and a white star on the right on a blue background",
             "a green cross at the top and a yellow diamond at the bottom on a purple background"]
    imgs = generate(tok, te, unet, dec, scaling, caps, list(range(len(caps))), cfg=7.0)
    cell, tw, th = 128, 184, 166
    cols = 5
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
        s = torch.randn(2, 4, 16, 16, generator=g)
        o = unet(s, torch.tensor([321.0]), h)
        z = torch.randn(1, 4, 16, 16, generator=g)
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
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok, te, unet, enc, dec, scaling = load(args.ckpt)
    held = json.load(open(args.heldout))
    if args.ref:
        write_ref(tok, te, unet, dec, enc, args.ref)
    if args.grid:
        grid(tok, te, unet, dec, scaling, held, args.grid)


if __name__ == "__main__":
    main()
