#!/usr/bin/env python3
"""Character-level training data for examples/gpt from the `fortunes` Debian package.

Reads the fortune files the package installs (/usr/share/games/fortunes, the plain-text
ones, in name order), maps each character to one of 96 ids (newline, then the printable
ASCII characters 32..126; a tab becomes a space, anything else '?'), and cuts the text into windows of
CONTEXT + 1 characters: the inputs are a window's first CONTEXT ids, the targets the same
shifted by one. Writes train_x.npy / train_y.npy (int64 [windows, CONTEXT]) here, and
prints the text's unigram entropy: a model that learned nothing but character frequencies
would reach that loss.

Plain Python (no NumPy): it writes .npy files itself. Usage: make_data.py [FORTUNES_DIR]
"""
import math
import os
import struct
import sys
from collections import Counter

CONTEXT = 64
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # 96 symbols; id = index


def encode(text):
    index = {ch: i for i, ch in enumerate(VOCAB)}
    index["\t"] = index[" "]  # the fortunes indent attributions with tabs
    unknown = index["?"]
    return [index.get(ch, unknown) for ch in text]


def write_npy(path, rows, width):
    """An int64 C-order array [len(rows), width] in .npy format 1.0."""
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), width)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"  # data 64-byte aligned
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        for row in rows:
            f.write(struct.pack("<%dq" % width, *row))


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/games/fortunes"
    if not os.path.isdir(source):
        sys.exit(f"make_data.py: {source} not found: install the fortunes package "
                 "(apt-get install fortunes)")
    names = sorted(n for n in os.listdir(source)
                   if "." not in n and os.path.isfile(os.path.join(source, n)))
    text = ""
    for name in names:
        with open(os.path.join(source, name), encoding="latin-1") as f:
            text += f.read()
    ids = encode(text)
    windows = (len(ids) - 1) // CONTEXT
    xs = [ids[w * CONTEXT:(w + 1) * CONTEXT] for w in range(windows)]
    ys = [ids[w * CONTEXT + 1:(w + 1) * CONTEXT + 1] for w in range(windows)]
    here = os.path.dirname(os.path.abspath(__file__))
    write_npy(os.path.join(here, "train_x.npy"), xs, CONTEXT)
    write_npy(os.path.join(here, "train_y.npy"), ys, CONTEXT)
    counts = Counter(ids)
    entropy = -sum(c / len(ids) * math.log(c / len(ids)) for c in counts.values())
    print(f"{len(names)} files, {len(text)} characters, {windows} windows of {CONTEXT}")
    print(f"unigram entropy: {entropy:.3f} nats per character (the loss of a model that "
          "knows only character frequencies)")


if __name__ == "__main__":
    main()
