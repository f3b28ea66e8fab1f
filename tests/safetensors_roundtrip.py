"""The PyTorch round trip (ctest: safetensors_roundtrip).

1. cgrad -> PyTorch: st_roundtrip_tool trains a model in cgrad and exports
   it; the file is read here with a reader written from the specification
   (tests/st_spec.py: json + numpy), loaded into the equivalent
   torch.nn.Sequential with load_state_dict (strict; parameters and buffers,
   the model ends in a layer with buffers), and PyTorch's outputs
   on the exported inputs must equal cgrad's to 1e-6.  The .npy export of the
   input must numpy.load to the same array.
2. PyTorch -> cgrad: a torch model written here with st_spec.write loads
   into cgrad, whose outputs must equal PyTorch's to 1e-6.

Needs torch and numpy (Debian python3-torch, python3-numpy, installed by
scripts/install_deps.sh test).  Installs nothing: without them it prints a
SKIPPED line saying why and exits 0.
Usage: /usr/bin/python3 tests/safetensors_roundtrip.py TOOL WORKDIR"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIPPED: safetensors_roundtrip needs torch and numpy in {sys.executable}: {e} "
          "(install python3-torch python3-numpy, e.g. scripts/install_deps.sh test)")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_spec  # noqa: E402

TOL = 1e-6


class BufferLayer(torch.nn.Module):
    """tests/support/buffer_layer.c in PyTorch: y = (x - running_mean) * scale,
    with buffers running_mean and num_batches (used here in eval mode)."""

    def __init__(self, features):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.full((features,), 1.5))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("num_batches", torch.zeros(1))

    def forward(self, x):
        return (x - self.running_mean) * self.scale


def torch_model():
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Hardshrink(0.2),
                               torch.nn.Linear(5, 4), torch.nn.Softshrink(0.1),
                               torch.nn.Linear(4, 3), BufferLayer(3)).eval()


def worst(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def cgrad_to_torch(tool, work):
    subprocess.run([tool, "export", work], check=True)
    state, meta = st_spec.read(os.path.join(work, "cgrad_model.safetensors"))
    io, _ = st_spec.read(os.path.join(work, "cgrad_io.safetensors"))
    m = torch_model()
    m.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    # Buffers came along: cgrad's 20 training steps moved the running mean.
    if m[5].num_batches.item() != 20 or not m[5].running_mean.abs().sum() > 0:
        sys.exit(f"FAILED: buffers not exported: num_batches {m[5].num_batches.item()}, "
                 f"running_mean {m[5].running_mean}")
    with torch.no_grad():
        y = m(torch.from_numpy(io["input"])).numpy()
    err = worst(y, io["output"])
    print(f"cgrad -> torch: {len(state)} tensors, metadata {meta}, outputs {y.shape}, "
          f"max |torch - cgrad| = {err:.3g}")
    if not err <= TOL:
        sys.exit(f"FAILED: cgrad -> torch outputs differ by {err} > {TOL}")
    npy = np.load(os.path.join(work, "cgrad_input.npy"))
    if npy.dtype != np.float32 or npy.shape != io["input"].shape or not np.array_equal(npy, io["input"]):
        sys.exit(f"FAILED: cgrad_input.npy loads as {npy.dtype} {npy.shape}, not the exported input")
    print(f"npy: numpy.load gives the exported input ({npy.dtype}, {npy.shape})")


def torch_to_cgrad(tool, work):
    torch.manual_seed(123)
    m = torch_model()
    m[5].running_mean.copy_(torch.randn(3))
    m[5].num_batches.fill_(7)
    x = torch.randn(10, 6)
    with torch.no_grad():
        y = m(x).numpy()
    model_path = os.path.join(work, "torch_model.safetensors")
    st_spec.write(model_path, [(k, v.numpy()) for k, v in m.state_dict().items()])
    io_path = os.path.join(work, "torch_io.safetensors")
    st_spec.write(io_path, [("input", x.numpy())])
    out_path = os.path.join(work, "cgrad_out.safetensors")
    subprocess.run([tool, "forward", model_path, io_path, out_path], check=True)
    out, _ = st_spec.read(out_path)
    err = worst(out["output"], y)
    print(f"torch -> cgrad: outputs {y.shape}, max |cgrad - torch| = {err:.3g}")
    if not err <= TOL:
        sys.exit(f"FAILED: torch -> cgrad outputs differ by {err} > {TOL}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    cgrad_to_torch(tool, work)
    torch_to_cgrad(tool, work)
    print("safetensors_roundtrip: PASSED")


if __name__ == "__main__":
    main()
