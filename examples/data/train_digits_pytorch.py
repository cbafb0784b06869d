#!/usr/bin/env python3
"""PyTorch reference for examples/digits_mlp.firn: the same model, initialization and optimizer,
trained on the .npy files that make_digits.py writes. It shows what firn's compiled binary
should reach.

    /usr/bin/python3 examples/data/train_digits_pytorch.py [--epochs 20] [--batch-size 32]
        [--optimizer sgd|adam] [--lr 0.05] [--momentum 0.9] [--seed 0]

The defaults are digits_mlp.firn's: SGD(lr=0.05, momentum=0.9), batch size 32, 20 epochs.

Batches are taken in file order, without shuffling, as firn's `train --epochs E` reads them
(the split in make_digits.py is already shuffled). Prints test accuracy after each epoch.
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.relu(self.fc2(h))
        return self.fc3(h)


def load(name):
    return torch.from_numpy(np.load(os.path.join(HERE, name)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--lr", type=float, default=None,
                    help="default: 0.05 for sgd, 1e-3 (PyTorch's default) for adam")
    ap.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_train, y_train = load("digits_train_x.npy"), load("digits_train_y.npy")
    x_test, y_test = load("digits_test_x.npy"), load("digits_test_y.npy")
    assert len(x_train) % args.batch_size == 0, "batch size must divide the training set"

    model = DigitsMLP()  # nn.Linear default init, drawn after torch.manual_seed(seed)
    if args.optimizer == "sgd":
        lr = 0.05 if args.lr is None else args.lr
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=args.momentum)
    else:
        lr = 1e-3 if args.lr is None else args.lr
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    print(f"{opt.__class__.__name__}: {opt.defaults}")
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for i in range(0, len(x_train), args.batch_size):
            xb, yb = x_train[i:i + args.batch_size], y_train[i:i + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            logits = model(x_test)
            test_loss = F.cross_entropy(logits, y_test).item()
            acc = (logits.argmax(1) == y_test).float().mean().item()
        steps = len(x_train) // args.batch_size
        print(f"epoch {epoch:2d}  train loss {total / steps:.4f}  "
              f"test loss {test_loss:.4f}  test acc {acc * 100:.2f}%")
    print(f"{args.epochs} epochs in {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
