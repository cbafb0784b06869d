#!/usr/bin/env python3
"""Upscales the bundled 8x8 digits to the 32x32 images LeNet-5 takes (examples/lenet5.firn).

    /usr/bin/python3 examples/data/make_lenet_digits.py

Reads digits_{train,test}_x.npy (float32 [N, 64], written by make_digits.py) and writes

    lenet_train_x.npy  float32 [1408, 1, 32, 32]
    lenet_test_x.npy   float32 [352, 1, 32, 32]

each image bilinearly upscaled 4x (F.interpolate, align_corners=False), pixels in [0, 1]. The
labels are digits_{train,test}_y.npy unchanged.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    for split in ("train", "test"):
        x = np.load(os.path.join(HERE, f"digits_{split}_x.npy"))
        images = torch.from_numpy(x).reshape(-1, 1, 8, 8)
        big = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
        out = np.ascontiguousarray(big.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"lenet_{split}_x.npy"), out)
        print(f"lenet_{split}_x.npy: {out.dtype} {list(out.shape)}")


if __name__ == "__main__":
    main()
