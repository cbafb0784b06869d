#!/usr/bin/env python3
"""Convert scikit-learn's bundled 8x8 handwritten digits to .npy files for firn.

Run with the Debian interpreter that has python3-sklearn installed:

    /usr/bin/python3 examples/data/make_digits.py

The data ships inside Debian's python3-sklearn package (sklearn.datasets.load_digits reads
it from disk; nothing is downloaded). It writes, next to this script:

    digits_train_x.npy  float32 [N_train, 64]   pixels scaled to [0, 1]
    digits_train_y.npy  int64   [N_train]       class indices 0..9
    digits_test_x.npy   float32 [N_test, 64]
    digits_test_y.npy   int64   [N_test]
"""
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
MULTIPLE = 32  # both splits are trimmed to a multiple of this


def main():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # 1797 x 64, pixel values 0..16 -> [0, 1]
    y = digits.target.astype(np.int64)

    # Deterministic stratified 80/20 split.
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)

    # firn's compiled binaries require the batch size to divide the number of samples, so
    # trim both splits to a multiple of 32 (batch sizes 32 and 64 then divide them) by
    # dropping the last few samples of each (1437 -> 1408 train, 360 -> 352 test). The split
    # is already shuffled, so the dropped samples are an arbitrary few.
    n_train = len(x_train) // MULTIPLE * MULTIPLE
    n_test = len(x_test) // MULTIPLE * MULTIPLE
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = x_test[:n_test], y_test[:n_test]

    for name, arr in [("digits_train_x", x_train), ("digits_train_y", y_train),
                      ("digits_test_x", x_test), ("digits_test_y", y_test)]:
        arr = np.ascontiguousarray(arr)
        np.save(os.path.join(HERE, name + ".npy"), arr)
        print(f"{name}.npy: {arr.dtype} {list(arr.shape)}")
    print("train class counts:", np.bincount(y_train, minlength=10).tolist())
    print("test class counts: ", np.bincount(y_test, minlength=10).tolist())


if __name__ == "__main__":
    main()
