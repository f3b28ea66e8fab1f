#!/usr/bin/python3
"""PyTorch reference for bench/sae_epoch: one epoch of the seed sparse
autoencoder (784-256 Linear, Hardshrink(0.1), 256-64, 64-784, MSE, SGD lr 0.05
momentum 0.9, batch 64) on MNIST-format IDX .gz files.  Prints `key value`
lines: train_mse (mean batch loss over the epoch), epoch_seconds, threads.
Run with Debian's torch:
  /usr/bin/python3 bench/torch_sae_epoch.py [DIR] [THREADS] [OPENBLAS_THREADS]
(OPENBLAS_THREADS defaults to THREADS; PyTorch's own threads and OpenBLAS's
are separate pools, so try both splits for its best 2-thread figure).
"""
import gzip, os, struct, sys, time

d = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
blas_threads = int(sys.argv[3]) if len(sys.argv) > 3 else threads
# Debian's torch runs its matrix products in OpenBLAS, whose pool ignores
# torch.set_num_threads: fix its size before the library loads.
os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)
import numpy as np
import torch

torch.set_num_threads(threads)
with gzip.open(f"{d}/train-images-idx3-ubyte.gz") as f:
    magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
    x = torch.from_numpy(np.frombuffer(f.read(), np.uint8).reshape(n, rows * cols).copy())
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.Hardshrink(0.1),
                            torch.nn.Linear(256, 64), torch.nn.Linear(64, 784))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
perm = torch.randperm(n)
t0 = time.perf_counter()
total = 0.0
for i in range(0, n, 64):
    xb = x[perm[i:i + 64]].float() / 255
    loss = torch.nn.functional.mse_loss(model(xb), xb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    total += loss.item() * xb.shape[0]
print(f"train_mse {total / n:.5f}\nepoch_seconds {time.perf_counter() - t0:.3f}\n"
      f"threads {threads}\nopenblas_threads {blas_threads}")
