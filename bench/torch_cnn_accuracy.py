#!/usr/bin/python3
"""PyTorch reference for examples/mnist_cnn's accuracy: trains PyTorch's
examples/mnist network (as bench/torch_cnn_epoch.py: SGD lr 0.01 momentum
0.9, batch 64, inputs normalized with mean 0.1307 and std 0.3081) for
EPOCHS epochs (default 1) on MNIST-format IDX .gz files at 1 thread and
prints the test accuracy in eval mode after each epoch.  Run with Debian's
torch:
  /usr/bin/python3 bench/torch_cnn_accuracy.py [DIR] [SEED] [EPOCHS]
"""
import gzip, os, struct, sys

d = sys.argv[1] if len(sys.argv) > 1 else "datasets/mnist"
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before torch loads OpenBLAS
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


def load(prefix):
    with gzip.open(f"{d}/{prefix}-images-idx3-ubyte.gz") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(), np.uint8).reshape(n, 1, rows, cols)
    with gzip.open(f"{d}/{prefix}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        y = np.frombuffer(f.read(), np.uint8).astype(np.int64)
    return (torch.from_numpy(x.copy()).float() / 255 - 0.1307) / 0.3081, torch.from_numpy(y)


x, y = load("train")
xt, yt = load("t10k")
torch.manual_seed(seed)
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
                      nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(1, epochs + 1):
    perm = torch.randperm(len(y))
    model.train()
    for i in range(0, len(y), 64):
        idx = perm[i:i + 64]
        loss = F.nll_loss(F.log_softmax(model(x[idx]), dim=1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        right = (model(xt).argmax(1) == yt).sum().item()
    print(f"images {len(y)} test_images {len(yt)} seed {seed} epoch {epoch} "
          f"test_accuracy {right / len(yt):.4f}", flush=True)
