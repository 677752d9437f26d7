"""Ground-truth renders from the training renderer (world.py) for the classifier's own test
(test/demo-model/classifier.test.ts): one PNG sprite sheet of 64x64 scenes and a JSON list of what each shows.

    /usr/bin/python3 scripts/demo-model/render_fixture.py --out test/fixtures/demo-shapes
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/demo-shapes")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    scenes = [world.random_scene(rng, set()) for _ in range(args.n)]
    cols = 20
    rows = (args.n + cols - 1) // cols
    sheet = np.zeros((rows * world.IMG, cols * world.IMG, 3), dtype=np.uint8)
    for i, s in enumerate(scenes):
        y, x = (i // cols) * world.IMG, (i % cols) * world.IMG
        sheet[y:y + world.IMG, x:x + world.IMG] = world.render(s)
    os.makedirs(args.out, exist_ok=True)
    Image.fromarray(sheet).save(os.path.join(args.out, "renders.png"), optimize=True)
    truth = [dict(background=s["bg"], objects=[dict(colour=o["colour"], shape=o["shape"], size=o["size"],
                                                    position=o["pos"]) for o in s["objects"]]) for s in scenes]
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(dict(description=f"{args.n} scenes rendered by scripts/demo-model/world.py (seed {args.seed}), "
                                   f"row-major in renders.png, {cols} per row, {world.IMG} px each",
                       columns=cols, size=world.IMG, scenes=truth), f)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
