"""Generates tests/data/st_torch_mlp.safetensors and st_torch_io.safetensors:
a PyTorch model's state_dict and an input with PyTorch's output, written
from the specification (tests/st_spec.py).  test_safetensors loads the model
into the equivalent cgrad Sequential and compares outputs, so the
torch -> cgrad direction is tested without torch at test time.
Run: /usr/bin/python3 tests/gen_safetensors_refs.py   (Debian python3-torch)"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_spec  # noqa: E402

META = {"generator": "tests/gen_safetensors_refs.py", "version": "1",
        "torch": torch.__version__}


def model():
    # Same layers as cgrad's Sequential(Linear(6,5), Hardshrink(0.2),
    # Linear(5,4), Softshrink(0.1), Linear(4,3)).
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Hardshrink(0.2),
                               torch.nn.Linear(5, 4), torch.nn.Softshrink(0.1),
                               torch.nn.Linear(4, 3))


def main():
    torch.manual_seed(16)
    m = model()
    x = torch.randn(4, 6)
    with torch.no_grad():
        y = m(x)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    st_spec.write(os.path.join(out, "st_torch_mlp.safetensors"),
                  [(k, v.numpy()) for k, v in m.state_dict().items()], META)
    st_spec.write(os.path.join(out, "st_torch_io.safetensors"),
                  [("input", x.numpy()), ("output", y.numpy())], META)


if __name__ == "__main__":
    main()
