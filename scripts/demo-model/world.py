"""Synthetic shape world: palette, shapes, positions, captions, seeded renderer and the held-out split.

Everything here is deterministic given a numpy Generator, so the dataset is reproducible from the seed.
"""
import numpy as np

# Named colours with well separated RGB values (the TS detector reads this palette from heldout.json).
PALETTE = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 225, 20),
    "green": (30, 160, 50),
    "blue": (30, 70, 225),
    "purple": (135, 40, 180),
    "pink": (255, 120, 200),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
COLOURS = list(PALETTE)
SHAPES = ["circle", "square", "triangle", "diamond", "star", "cross"]
SIZES = {"small": 9.0, "medium": 12.0, "large": 16.0}  # half extent in pixels (small is big enough to show corners)
SIZE_NAMES = list(SIZES)
# Named positions -> centre (x, y) in a 64x64 image (jittered by the renderer).
POSITIONS = {
    "in the top left corner": (17, 17),
    "in the top right corner": (47, 17),
    "in the bottom left corner": (17, 47),
    "in the bottom right corner": (47, 47),
    "at the top": (32, 17),
    "at the bottom": (32, 47),
    "on the left": (17, 32),
    "on the right": (47, 32),
    "in the center": (32, 32),
}
POSITION_NAMES = list(POSITIONS)
# Position pairs for two-shape scenes (first shape, second shape) that do not overlap.
PAIRS = [
    ("on the left", "on the right"),
    ("on the right", "on the left"),
    ("at the top", "at the bottom"),
    ("at the bottom", "at the top"),
    ("in the top left corner", "in the bottom right corner"),
    ("in the bottom right corner", "in the top left corner"),
    ("in the top right corner", "in the bottom left corner"),
    ("in the bottom left corner", "in the top right corner"),
]
IMG = 64


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def vocabulary_words():
    words = {"a", "an", "on", "in", "the", "and", "background", "corner", "top", "bottom", "left", "right",
             "center", "medium"}
    words.update(COLOURS)
    words.update(SHAPES)
    words.update(SIZE_NAMES)
    for p in POSITION_NAMES:
        words.update(p.split())
    return sorted(words)


def all_triples():
    return [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def heldout_split(seed=1234, n=60):
    """Fixed seeded choice of held-out (shape colour, shape, background colour) triples."""
    rng = np.random.default_rng(seed)
    triples = all_triples()
    idx = rng.permutation(len(triples))[:n]
    return sorted(triples[i] for i in idx)


# ----------------------------------------------------------------------------------------------------------------
# Rendering

SS = 3  # supersampling factor (anti-aliasing)
_grid = (np.arange(IMG * SS, dtype=np.float32) + 0.5) / SS
GX, GY = np.meshgrid(_grid, _grid)


def _poly_mask(px, py, verts):
    """Even-odd point-in-polygon test for arrays of points."""
    inside = np.zeros(px.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        x1, y1 = verts[i]
        x2, y2 = verts[(i + 1) % n]
        cond = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = x1 + (py - y1) * (x2 - x1) / (y2 - y1 + 1e-12)
        inside ^= cond & (px < xint)
    return inside


def _shape_verts(shape, r):
    if shape == "square":
        a = 0.85 * r
        return [(-a, -a), (a, -a), (a, a), (-a, a)]
    if shape == "diamond":
        return [(0, -r), (r, 0), (0, r), (-r, 0)]
    if shape == "triangle":
        return [(0, -r), (r, 0.8 * r), (-r, 0.8 * r)]
    if shape == "star":
        v = []
        for k in range(10):
            rad = r if k % 2 == 0 else 0.42 * r
            ang = -np.pi / 2 + k * np.pi / 5
            v.append((rad * np.cos(ang), rad * np.sin(ang)))
        return v
    if shape == "cross":
        a, w = 0.95 * r, 0.34 * r
        return [(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w), (-a, -w),
                (-w, -w)]
    raise ValueError(shape)


def shape_mask(shape, cx, cy, r):
    """Anti-aliased coverage in [0,1] of a 64x64 image."""
    x0, x1 = int(max(0, (cx - r - 2) * SS)), int(min(IMG * SS, (cx + r + 2) * SS))
    y0, y1 = int(max(0, (cy - r - 2) * SS)), int(min(IMG * SS, (cy + r + 2) * SS))
    px, py = GX[y0:y1, x0:x1] - cx, GY[y0:y1, x0:x1] - cy
    if shape == "circle":
        m = px * px + py * py <= r * r
    else:
        m = _poly_mask(px, py, _shape_verts(shape, r))
    full = np.zeros((IMG * SS, IMG * SS), dtype=np.float32)
    full[y0:y1, x0:x1] = m
    return full.reshape(IMG, SS, IMG, SS).mean(axis=(1, 3))


def render(scene):
    """scene = {"bg": colour, "objects": [{"colour","shape","size","pos","cx","cy"}]} -> uint8 HxWx3."""
    img = np.empty((IMG, IMG, 3), dtype=np.float32)
    img[:] = PALETTE[scene["bg"]]
    for o in scene["objects"]:
        m = shape_mask(o["shape"], o["cx"], o["cy"], SIZES[o["size"]])[..., None]
        img = img * (1 - m) + np.asarray(PALETTE[o["colour"]], dtype=np.float32) * m
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Scenes and captions

def _place(rng, pos, size):
    cx, cy = POSITIONS[pos]
    r = SIZES[size]
    jit = 3.0
    cx = float(np.clip(cx + rng.uniform(-jit, jit), r + 1, IMG - r - 1))
    cy = float(np.clip(cy + rng.uniform(-jit, jit), r + 1, IMG - r - 1))
    return cx, cy


def random_scene(rng, heldout_set, p_two=0.4):
    """A scene whose (colour, shape, background) triples are never in heldout_set."""
    while True:
        bg = COLOURS[rng.integers(len(COLOURS))]
        if rng.random() < p_two:
            p1, p2 = PAIRS[rng.integers(len(PAIRS))]
            cols = [c for c in COLOURS if c != bg]
            i, j = rng.choice(len(cols), 2, replace=False)
            objs = []
            for col, pos in ((cols[i], p1), (cols[j], p2)):
                shape = SHAPES[rng.integers(len(SHAPES))]
                size = ["small", "medium"][rng.integers(2)]
                cx, cy = _place(rng, pos, size)
                objs.append(dict(colour=col, shape=shape, size=size, pos=pos, cx=cx, cy=cy))
        else:
            col = COLOURS[rng.integers(len(COLOURS))]
            if col == bg:
                continue
            shape = SHAPES[rng.integers(len(SHAPES))]
            size = SIZE_NAMES[rng.integers(len(SIZE_NAMES))]
            pos = POSITION_NAMES[rng.integers(len(POSITION_NAMES))]
            cx, cy = _place(rng, pos, size)
            objs = [dict(colour=col, shape=shape, size=size, pos=pos, cx=cx, cy=cy)]
        if any((o["colour"], o["shape"], bg) in heldout_set for o in objs):
            continue
        return dict(bg=bg, objects=objs)


def _np(o, with_size, with_pos):
    words = []
    if with_size:
        words.append(o["size"])
    words += [o["colour"], o["shape"]]
    s = article(words[0]) + " " + " ".join(words)
    if with_pos:
        s += " " + o["pos"]
    return s


def caption(scene, rng):
    """A random caption for the scene; size/position/background phrases are optional (the image is the same)."""
    objs = scene["objects"]
    with_bg = rng.random() < 0.85
    if len(objs) == 1:
        s = _np(objs[0], rng.random() < 0.5, rng.random() < 0.5)
    else:
        with_pos = rng.random() < 0.7
        s = _np(objs[0], False, with_pos) + " and " + _np(objs[1], False, with_pos)
    if with_bg:
        s += " on " + article(scene["bg"]) + " " + scene["bg"] + " background"
    return s


def full_caption(scene):
    objs = scene["objects"]
    if len(objs) == 1:
        s = _np(objs[0], True, True)
    else:
        s = _np(objs[0], False, True) + " and " + _np(objs[1], False, True)
    return s + " on " + article(scene["bg"]) + " " + scene["bg"] + " background"


def simple_caption(colour, shape, bg):
    return f"{article(colour)} {colour} {shape} on {article(bg)} {bg} background"


def heldout_captions(seed=4321):
    """The content test's captions: one per held-out triple (2 of 3 with a position, 1 of 3 with a size), then 30
    two-object captions whose first object is a held-out triple (2 of 3 with positions). None was seen in training."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (c, s, b) in enumerate(heldout_split()):
        o = dict(colour=c, shape=s, size=SIZE_NAMES[[0, 2][i % 2]] if i % 3 == 0 else None,
                 position=POSITION_NAMES[rng.integers(len(POSITION_NAMES))] if i % 3 != 2 else None)
        words = ([o["size"]] if o["size"] else []) + [c, s]
        text = article(words[0]) + " " + " ".join(words) + (" " + o["position"] if o["position"] else "")
        out.append(dict(caption=f"{text} on {article(b)} {b} background", background=b, objects=[o]))
    held = heldout_split()
    for i in range(30):
        c1, s1, b = held[(7 * i) % len(held)]
        c2 = [c for c in COLOURS if c not in (b, c1)][rng.integers(len(COLOURS) - 2)]
        s2 = SHAPES[rng.integers(len(SHAPES))]
        with_pos = i % 3 != 2
        p1, p2 = PAIRS[rng.integers(len(PAIRS))] if with_pos else (None, None)
        objs = [dict(colour=c1, shape=s1, size=None, position=p1), dict(colour=c2, shape=s2, size=None, position=p2)]
        text = " and ".join(f"{article(o['colour'])} {o['colour']} {o['shape']}" + (" " + o["position"] if with_pos else "")
                            for o in objs)
        out.append(dict(caption=f"{text} on {article(b)} {b} background", background=b, objects=objs))
    return out
