#!/usr/bin/python3
"""Reference values for tests/test_ops_forward.c, computed with PyTorch (1.13).

Run with Debian's interpreter (torch is only installed for it):

    /usr/bin/python3 tests/gen_op_refs.py      # rewrites tests/data/op_refs.txt

For every built-in op it records, per case, fixed float64 inputs (drawn from
a seeded generator, so reruns give the same file), a fixed upstream gradient
`gout`, torch's output and torch's input gradients from out.backward(gout).
Kink inputs of the non-smooth ops (relu/abs at 0, the shrink ops at exactly
+-lambda, clamp at its bounds, max ties) are included so PyTorch's gradient
conventions there are pinned down.  Values in kink cases and the lambdas and
bounds are exactly representable in float32, so the same case also holds for
cgrad's f32 path.  (cgrad deliberately differs for softshrink(NaN), which
propagates NaN; that is tested by hand, not here.)

File format (text, one token list per line, '#' lines and blank lines
ignored; numbers in %.17g so float64 values round-trip exactly):

    CGRAD-OPREF 1
    case <case-name> <op-name>
    scalars <k> <s1> ... <sk>
    inputs <n>
    in <ndim> <d1> ... <dndim> <numel values>       (n lines)
    gout <ndim> <dims> <values>
    out <ndim> <dims> <values>
    grad <ndim> <dims> <values>                     (n lines, one per input)
    end

Scalars per op: add_scalar/mul_scalar: s; pow_scalar: p; hard/softshrink:
lambda; clamp: lo hi (may be -inf/inf); sum_dim/mean_dim/max_dim: dim
keepdim(0/1); reshape: the requested shape (may hold one -1; k = its ndim).
linear has 2 inputs (no bias) or 3 (with bias).
"""
import math
import os
import random

import torch
import torch.nn.functional as F

SEED = 20240611
rng = random.Random(SEED)
DT = torch.float64


def numel(shape):
    return math.prod(shape) if shape else 1


def draw(shape, lo=-2.0, hi=2.0, kinks=(), sign=False, distinct=False):
    """numel(shape) uniform values in [lo, hi); kept >= 1e-2 from every kink
    point (and from each other when distinct); random sign when sign."""
    vals = []
    while len(vals) < numel(shape):
        v = rng.uniform(lo, hi)
        if sign and rng.random() < 0.5:
            v = -v
        if any(abs(v - k) < 1e-2 for k in kinks):
            continue
        if distinct and any(abs(v - w) < 1e-2 for w in vals):
            continue
        vals.append(v)
    return torch.tensor(vals, dtype=DT).reshape(shape)


def given(shape, vals):
    return torch.tensor(vals, dtype=DT).reshape(shape)


CASES = []


def case(name, op, fn, inputs, scalars=()):
    """Runs fn on leaf copies of inputs, backpropagates a random gout."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    gout = draw(tuple(out.shape), -1.0, 1.0)
    out.backward(gout)
    for i, leaf in enumerate(leaves):
        assert leaf.grad is not None, "%s: input %d got no gradient" % (name, i)
    CASES.append((name, op, list(scalars), [t.detach() for t in inputs], gout,
                  out.detach(), [leaf.grad.detach() for leaf in leaves]))


def binary_cases():
    ops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    shapes = [
        ("same", (2, 3), (2, 3)),
        ("bcast_413_21", (4, 1, 3), (2, 1)),
        ("bcast_row", (2, 3), (3,)),
        ("bcast_left", (3,), (2, 3)),
        ("bcast_outer", (2, 1), (1, 3)),
        ("bcast_one", (2, 3), (1,)),
        ("bcast_scalar", (2, 2), ()),
    ]
    for op, fn in ops.items():
        for tag, sa, sb in shapes:
            a = draw(sa)
            # Denominators stay away from 0 so the quotient is well scaled.
            b = draw(sb, 0.5, 2.0, sign=True) if op == "div" else draw(sb)
            case("%s_%s" % (op, tag), op, fn, [a, b])


def scalar_cases():
    for s in (1.5, -0.25):
        case("add_scalar_%g" % s, "add_scalar", lambda x, s=s: x + s, [draw((2, 3))], [s])
    for s in (-2.5, 0.0):
        case("mul_scalar_%g" % s, "mul_scalar", lambda x, s=s: x * s, [draw((2, 3))], [s])
    pows = [
        (2.0, given((2, 3), [-1.5, -0.25, 0.0, 0.5, 1.25, 2.0])),
        (3.0, draw((2, 3))),
        (1.0, draw((4,))),
        (0.0, given((4,), [0.0, -1.5, 0.75, 2.0])),  # x^0 = 1, gradient 0 (also at 0)
        (0.5, draw((2, 3), 0.25, 2.0)),
        (1.5, draw((5,), 0.25, 2.0)),
        (-1.0, draw((2, 3), 0.5, 2.0, sign=True)),
        (-2.5, draw((5,), 0.5, 2.0)),
    ]
    for p, x in pows:
        case("pow_scalar_%g" % p, "pow_scalar", lambda t, p=p: torch.pow(t, p), [x], [p])


def unary_cases():
    smooth = {
        "neg": (torch.neg, {}),
        "exp": (torch.exp, {}),
        "log": (torch.log, {"lo": 0.1, "hi": 3.0}),
        "sqrt": (torch.sqrt, {"lo": 0.1, "hi": 3.0}),
        "square": (torch.square, {}),
        "tanh": (torch.tanh, {}),
        "sigmoid": (torch.sigmoid, {"lo": -4.0, "hi": 4.0}),
        "tanhshrink": (F.tanhshrink, {}),
    }
    for op, (fn, rng_kw) in smooth.items():
        case(op, op, fn, [draw((3, 4), **rng_kw)])
        case(op + "_1d", op, fn, [draw((5,), **rng_kw)])
    # Non-smooth ops: random values away from the kinks, then the kinks.
    case("abs", "abs", torch.abs, [draw((3, 4), kinks=(0,))])
    case("abs_kink", "abs", torch.abs, [given((5,), [-1.25, -0.0, 0.0, 0.5, 3.0])])
    case("relu", "relu", torch.relu, [draw((3, 4), kinks=(0,))])
    case("relu_kink", "relu", torch.relu, [given((5,), [-1.0, -0.0, 0.0, 1e-3, 2.5])])
    for op, fn in (("hardshrink", F.hardshrink), ("softshrink", F.softshrink)):
        for lam in (0.5, 0.25):
            f = lambda t, lam=lam, fn=fn: fn(t, lam)
            case("%s_%g" % (op, lam), op, f, [draw((3, 4), kinks=(-lam, lam))], [lam])
            kink = [-lam, lam, 0.0, lam + 1e-3, -lam - 1e-3, lam - 1e-3, -lam + 1e-3, 1.5]
            case("%s_%g_kink" % (op, lam), op, f, [given((8,), kink)], [lam])
        f0 = lambda t, fn=fn: fn(t, 0.0)
        case("%s_0" % op, op, f0, [given((5,), [-1.0, -0.0, 0.0, 1e-3, 0.75])], [0.0])
    clamps = [("clamp", -0.5, 0.75), ("clamp_upper", -math.inf, 0.5),
              ("clamp_lower", -0.25, math.inf), ("clamp_point", 0.25, 0.25)]
    for name, lo, hi in clamps:
        f = lambda t, lo=lo, hi=hi: torch.clamp(t, lo, hi)
        kinks = [k for k in (lo, hi) if math.isfinite(k)]
        case(name, "clamp", f, [draw((3, 4), kinks=kinks)], [lo, hi])
    kink = [-0.5, 0.75, -0.501, 0.751, -0.499, 0.749, 0.0]
    case("clamp_kink", "clamp", lambda t: torch.clamp(t, -0.5, 0.75), [given((7,), kink)],
         [-0.5, 0.75])


def linalg_cases():
    mm = [("2d", (3, 4), (4, 2)), ("batched", (2, 3, 4), (2, 4, 5)),
          ("outer", (3, 1), (1, 4)), ("dot", (1, 5), (5, 1))]
    for tag, sa, sb in mm:
        case("matmul_" + tag, "matmul", torch.matmul, [draw(sa), draw(sb)])
    case("linear_bias", "linear", F.linear, [draw((4, 3)), draw((2, 3)), draw((2,))])
    case("linear_nobias", "linear", F.linear, [draw((5, 3)), draw((4, 3))])
    case("linear_bias_n1", "linear", F.linear, [draw((1, 6)), draw((3, 6)), draw((3,))])


def dims_tag(shape):
    return "x".join(map(str, shape))


def reduction_cases():
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        case(op, op, fn, [draw((2, 3, 4))])
        case(op + "_1d", op, fn, [draw((5,))])
    dims = [((2, 3, 4), 1, False), ((2, 3, 4), -1, True), ((2, 3, 4), 0, False),
            ((3, 4), -2, True), ((5,), 0, False)]
    for op, fn in (("sum_dim", torch.sum), ("mean_dim", torch.mean)):
        for shape, d, keep in dims:
            f = lambda t, d=d, keep=keep, fn=fn: fn(t, d, keepdim=keep)
            case("%s_%s_%d_%s" % (op, dims_tag(shape), d, "keep" if keep else "drop"), op, f,
                 [draw(shape)], [d, int(keep)])
    for shape, d, keep in dims:
        f = lambda t, d=d, keep=keep: torch.max(t, d, keepdim=keep)[0]
        case("max_dim_%s_%d_%s" % (dims_tag(shape), d, "keep" if keep else "drop"), "max_dim",
             f, [draw(shape, distinct=True)], [d, int(keep)])
    # Ties: the gradient goes to the first maximal element (torch's index).
    tie = given((3, 4), [1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 5.0, 0.0, -1.0, -2.0, -1.0, -1.0])
    for d, keep in ((1, False), (0, True), (-1, True)):
        f = lambda t, d=d, keep=keep: torch.max(t, d, keepdim=keep)[0]
        case("max_dim_tie_%d_%s" % (d, "keep" if keep else "drop"), "max_dim", f, [tie],
             [d, int(keep)])


def shape_cases():
    reshapes = [((2, 3, 4), (6, 4)), ((2, 3, 4), (4, -1)), ((2, 3, 4), (24,)),
                ((2, 3), (3, 1, 2)), ((6,), (-1, 2, 3)), ((1,), ())]
    for src, dst in reshapes:
        name = "reshape_%s_to_%s" % (dims_tag(src),
                                     dims_tag(dst).replace("-1", "m1") or "scalar")
        case(name, "reshape", lambda t, dst=dst: t.reshape(dst), [draw(src)], list(dst))
    for shape in ((3, 4), (1, 5), (2, 2), (4, 1)):
        case("transpose_%dx%d" % shape, "transpose", lambda t: t.t(), [draw(shape)])


def fmt(v):
    return "%.17g" % v


def tensor_line(tag, t):
    shape = list(t.shape)
    vals = t.reshape(-1).tolist()
    return " ".join([tag, str(len(shape))] + [str(d) for d in shape] + [fmt(v) for v in vals])


def write_refs(filename, script, seed):
    """Writes CASES to tests/data/<filename> (also used by gen_conv_refs.py)."""
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    lines = ["CGRAD-OPREF 1",
             "# Generated by %s with torch %s (seed %d); do not edit."
             % (script, torch.__version__, seed),
             "# %d cases; format described in the script." % len(CASES)]
    for name, op, scalars, inputs, gout, out, grads in CASES:
        lines.append("")
        lines.append("case %s %s" % (name, op))
        lines.append(" ".join(["scalars", str(len(scalars))] + [fmt(s) for s in scalars]))
        lines.append("inputs %d" % len(inputs))
        lines += [tensor_line("in", t) for t in inputs]
        lines.append(tensor_line("gout", gout))
        lines.append(tensor_line("out", out))
        lines += [tensor_line("grad", g) for g in grads]
        lines.append("end")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", filename)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (len(CASES), path))


def main():
    binary_cases()
    scalar_cases()
    unary_cases()
    linalg_cases()
    reduction_cases()
    shape_cases()
    write_refs("op_refs.txt", "tests/gen_op_refs.py", SEED)


if __name__ == "__main__":
    main()
