"""Our own small CLIP-BPE vocabulary, written in the Hugging Face CLIPTokenizer layout, and a tiny encoder that
mirrors CLIP's pre-tokenisation + BPE (docs/engine-reference.md §3.3, §3.4) for training-time tokenisation."""
import json
import os
import re

MAX_LEN = 77
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
# CLIP's pattern; Python's re has no \p{L}, so approximate letters/digits with the unicode-aware classes.
PAT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()


class BPE:
    def __init__(self, merges):
        self.merges = list(merges)
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        base = list(B2U.values())
        vocab = base + [v + "</w>" for v in base]
        for a, b in self.merges:
            vocab.append(a + b)
        vocab += [SOT, EOT]
        assert len(set(vocab)) == len(vocab), "duplicate token"
        self.encoder = {t: i for i, t in enumerate(vocab)}
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, 1e18))
            if best not in self.ranks:
                break
            a, b = best
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = new
        self.cache[token] = word
        return word

    def tokens(self, text):
        text = " ".join(text.split()).strip().lower()
        out = []
        for m in PAT.findall(text):
            if m in (SOT, EOT):
                out.append(m)
                continue
            out += self.bpe("".join(B2U[b] for b in m.encode("utf-8")))
        return out

    def encode(self, text):
        """ids padded with EOT to 77 (SD1 style), truncated to 75 content tokens."""
        ids = [self.encoder[t] for t in self.tokens(text)][: MAX_LEN - 2]
        ids = [self.encoder[SOT]] + ids + [self.encoder[EOT]]
        return ids + [self.encoder[EOT]] * (MAX_LEN - len(ids))

    @property
    def eot_id(self):
        return self.encoder[EOT]

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump({
                "bos_token": {"content": SOT, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
                "eos_token": {"content": EOT, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
                "pad_token": EOT,
                "unk_token": {"content": EOT, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
            }, f, indent=2)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({
                "add_prefix_space": False,
                "bos_token": SOT,
                "do_lower_case": True,
                "eos_token": EOT,
                "errors": "replace",
                "model_max_length": MAX_LEN,
                "pad_token": EOT,
                "tokenizer_class": "CLIPTokenizer",
                "unk_token": EOT,
            }, f, indent=2)


def build(words):
    """Greedy merges so that every word becomes one token. Later merges have higher rank, so adding a merge never
    changes how an already-complete word is split (its lower-ranked merges always win)."""
    bpe = BPE([])
    merges = []
    for w in sorted(set(words), key=lambda s: (len(s), s)):
        sym = "".join(B2U[b] for b in w.encode("utf-8"))
        while True:
            bpe = BPE(merges)
            parts = bpe.bpe(sym)
            if len(parts) == 1:
                break
            merges.append((parts[0], parts[1]))
    bpe = BPE(merges)
    for w in words:
        assert bpe.tokens(w) == [w + "</w>"], (w, bpe.tokens(w))
    return bpe
