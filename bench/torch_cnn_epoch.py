#!/usr/bin/python3
"""PyTorch reference for bench/cnn_epoch: one epoch of PyTorch's
examples/mnist network (Conv2d(1,32,3), ReLU, Conv2d(32,64,3), ReLU,
MaxPool2d(2), Dropout(0.25), Flatten, Linear(9216,128), ReLU, Dropout(0.5),
Linear(128,10), log_softmax + NLL; SGD lr 0.01 momentum 0.9, batch 64,
inputs normalized with mean 0.1307 and std 0.3081) on MNIST-format IDX .gz
files.  Prints `key value` lines: images, train_loss (mean batch loss),
epoch_seconds, threads, openblas_threads.  Run with Debian's torch:
  /usr/bin/python3 bench/torch_cnn_epoch.py [DIR] [THREADS] [OPENBLAS_THREADS] [LIMIT]
OPENBLAS_THREADS defaults to THREADS (torch's convolutions run in oneDNN on
torch's own pool, its Linear layers in OpenBLAS, a separate pool: both are
set explicitly); LIMIT times the first LIMIT images only (0: all).
Like bench/cnn_epoch, it sets OPENBLAS_CORETYPE (SkylakeX on a CPU with
AVX-512, Haswell with AVX2) when unset: OpenBLAS 0.3.21 does not recognise
some virtual CPUs and would fall back to its SSE3 kernels.
"""
import gzip, os, struct, sys, time

d = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
blas_threads = int(sys.argv[3]) if len(sys.argv) > 3 else threads
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 0
os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)  # before torch loads OpenBLAS
os.environ["OMP_NUM_THREADS"] = str(threads)
with open("/proc/cpuinfo") as f:
    flags = next((l.split() for l in f if l.startswith("flags")), [])
core = "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else None
if core:
    os.environ.setdefault("OPENBLAS_CORETYPE", core)
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(threads)
with gzip.open(f"{d}/train-images-idx3-ubyte.gz") as f:
    magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
    x = torch.from_numpy(np.frombuffer(f.read(), np.uint8).reshape(n, 1, rows, cols).copy())
with gzip.open(f"{d}/train-labels-idx1-ubyte.gz") as f:
    f.read(8)
    y = torch.from_numpy(np.frombuffer(f.read(), np.uint8).astype(np.int64))
if limit:
    n = min(n, limit)
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
                      nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
perm = torch.randperm(n)
model.train()
t0 = time.perf_counter()
total = 0.0
for i in range(0, n, 64):
    idx = perm[i:i + 64]
    xb = (x[idx].float() / 255 - 0.1307) / 0.3081
    loss = F.nll_loss(F.log_softmax(model(xb), dim=1), y[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
    total += loss.item() * len(idx)
print(f"images {n}\ntrain_loss {total / n:.5f}\nepoch_seconds {time.perf_counter() - t0:.3f}\n"
      f"threads {threads}\nopenblas_threads {blas_threads}\n"
      f"openblas_core {os.environ.get('OPENBLAS_CORETYPE', 'detected')}")
