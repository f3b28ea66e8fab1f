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
maximum/minimum: none; where: inputs (cond, a, b), cond gets a zero
gradient; leaky_relu: slope; elu: alpha; softplus: beta threshold;
softmax/log_softmax: dim; logsumexp: dim keepdim; var_dim: dim unbiased
keepdim; permute: the permutation; cat: dim (2..4 inputs);
narrow/narrow_view: dim start length; index_select: dim, then the indices;
gather: dim, ndim, the index shape, then the indices (row-major);
embedding: input the weight; has_padding (0/1), padding_idx, ndim, the
index shape, then the indices.
Losses (nn/loss_op_list.h): mse_loss/l1_loss/bce_loss/bce_with_logits_loss:
reduction (0 mean, 1 sum, 2 none), inputs (input, target);
cross_entropy_loss: reduction, then one class index per row of the single
input (the logits); l1_penalty: weight; huber_loss/smooth_l1_loss:
reduction, delta/beta; kl_div_loss: reduction (3 = batchmean);
nll_loss/cross_entropy_loss_with: reduction, label_smoothing, ignore (0/1),
ignore_index, then one target per row.
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


def case(name, op, fn, inputs, scalars=(), no_grad=()):
    """Runs fn on leaf copies of inputs, backpropagates a random gout.  The
    inputs numbered in no_grad (masks) get a zero gradient."""
    leaves = [t.clone().requires_grad_(i not in no_grad) for i, t in enumerate(inputs)]
    out = fn(*leaves)
    gout = draw(tuple(out.shape), -1.0, 1.0)
    out.backward(gout)
    grads = []
    for i, leaf in enumerate(leaves):
        if i in no_grad:
            grads.append(torch.zeros_like(leaf))
            continue
        assert leaf.grad is not None, "%s: input %d got no gradient" % (name, i)
        grads.append(leaf.grad.detach())
    CASES.append((name, op, list(scalars), [t.detach() for t in inputs], gout,
                  out.detach(), grads))


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


def layer_op_cases():
    """The ops of issue 13: binary max/min and where, activations, along-dim
    ops, joining/slicing/indexing, permute."""
    for op, fn in (("maximum", torch.maximum), ("minimum", torch.minimum)):
        case(op, op, fn, [draw((2, 3), distinct=True), draw((2, 3), distinct=True)])
        case(op + "_bcast", op, fn, [draw((4, 1, 3)), draw((2, 1))])
        # ties split the gradient; NaN is not written here (see the C test)
        case(op + "_tie", op, fn, [given((4,), [1.0, -0.5, 2.0, 0.0]),
                                   given((4,), [1.0, 0.5, 2.0, -0.0])])
    cond = given((2, 3), [1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    case("where", "where", lambda c, a, b: torch.where(c != 0, a, b),
         [cond, draw((2, 3)), draw((2, 3))], no_grad=(0,))
    acts = {
        "erf": (torch.erf, []),
        "silu": (F.silu, []),
        "gelu": (F.gelu, []),
        "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), []),
    }
    for op, (fn, sc) in acts.items():
        case(op, op, fn, [draw((3, 4), -3.0, 3.0)], sc)
    for slope in (0.01, -0.2):
        case("leaky_relu_%g" % slope, "leaky_relu", lambda t, a=slope: F.leaky_relu(t, a),
             [draw((3, 4), kinks=(0,))], [slope])
    case("leaky_relu_kink", "leaky_relu", lambda t: F.leaky_relu(t, 0.25),
         [given((4,), [-1.0, 0.0, -0.0, 2.0])], [0.25])
    for alpha in (1.0, 0.5):
        case("elu_%g" % alpha, "elu", lambda t, a=alpha: F.elu(t, a), [draw((3, 4), kinks=(0,))],
             [alpha])
    case("elu_kink", "elu", lambda t: F.elu(t, 1.5), [given((3,), [0.0, -2.0, 1.0])], [1.5])
    for beta, thr in ((1.0, 20.0), (2.0, 1.0)):
        case("softplus_%g_%g" % (beta, thr), "softplus",
             lambda t, b=beta, th=thr: F.softplus(t, b, th),
             [draw((3, 4), -3.0, 3.0, kinks=(thr / beta,))], [beta, thr])
    for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        for shape, d in (((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -2), ((5,), 0)):
            case("%s_%s_%d" % (op, dims_tag(shape), d), op, lambda t, d=d, fn=fn: fn(t, d),
                 [draw(shape)], [d])
        big = given((2, 3), [1000.0, -1000.0, 0.0, 1000.0, 1000.0, 999.0])
        case(op + "_pm1000", op, lambda t, fn=fn: fn(t, 1), [big], [1])
        case(op + "_pm1000_dim0", op, lambda t, fn=fn: fn(t, 0), [big], [0])
    for shape, d, keep in (((3, 4), 1, False), ((2, 3, 4), 0, True), ((5,), 0, False)):
        case("logsumexp_%s_%d" % (dims_tag(shape), d), "logsumexp",
             lambda t, d=d, keep=keep: torch.logsumexp(t, d, keepdim=keep), [draw(shape)],
             [d, int(keep)])
    case("logsumexp_pm1000", "logsumexp", lambda t: torch.logsumexp(t, 1),
         [given((2, 3), [1000.0, -1000.0, 0.0, -1000.0, -1000.0, -999.0])], [1, 0])
    for shape, d, unb, keep in (((3, 4), 1, True, False), ((3, 4), 0, False, True),
                                ((2, 3, 4), -1, True, True), ((6,), 0, False, False)):
        case("var_dim_%s_%d_%s" % (dims_tag(shape), d, "unb" if unb else "pop"), "var_dim",
             lambda t, d=d, unb=unb, keep=keep: torch.var(t, d, unbiased=unb, keepdim=keep),
             [draw(shape)], [d, int(unb), int(keep)])
    for perm in ((1, 0), (2, 0, 1), (0, 2, 1), (1, 2, 0)):
        shape = (3, 4) if len(perm) == 2 else (2, 3, 4)
        case("permute_%s" % "".join(map(str, perm)), "permute",
             lambda t, p=perm: t.permute(*p), [draw(shape)], list(perm))
    cats = [("dim0", [(2, 3), (1, 3)], 0), ("dim1", [(2, 3), (2, 1), (2, 2)], 1),
            ("3d_mid", [(2, 1, 2), (2, 3, 2)], -2), ("four", [(1, 2), (2, 2), (1, 2), (3, 2)], 0)]
    for tag, shapes, d in cats:
        case("cat_" + tag, "cat", lambda *ts, d=d: torch.cat(ts, d), [draw(sh) for sh in shapes],
             [d])
    narrows = [("narrow_view", (4, 3), 0, 1, 2), ("narrow_view", (1, 5, 2), 1, 2, 3),
               ("narrow", (3, 4), 1, 1, 2), ("narrow", (2, 3, 4), 2, 0, 3),
               ("narrow", (2, 5), -1, 4, 1)]
    for op, shape, d, st, ln in narrows:
        case("%s_%s_%d_%d_%d" % (op, dims_tag(shape), d, st, ln), op,
             lambda t, d=d, st=st, ln=ln: t.narrow(d, st, ln), [draw(shape)], [d, st, ln])
    sels = [((4, 3), 0, [2, 0, 2]), ((3, 4), 1, [3, 1]), ((2, 3, 2), 1, [0, 0, 2, 1])]
    for shape, d, idx in sels:
        case("index_select_%s_%d" % (dims_tag(shape), d), "index_select",
             lambda t, d=d, idx=idx: torch.index_select(t, d, torch.tensor(idx)), [draw(shape)],
             [d] + idx)
    gathers = [((3, 4), 1, [[0, 0], [3, 1], [2, 2]]), ((3, 4), 0, [[2, 0, 1, 2], [2, 2, 0, 1]]),
               ((2, 3), 1, [[1, 1, 1], [0, 2, 0]])]  # repeated indices: gradients add up
    for shape, d, idx in gathers:
        it = torch.tensor(idx)
        flat = [v for row in idx for v in row]
        case("gather_%s_%d_%dx%d" % (dims_tag(shape), d, len(idx), len(idx[0])), "gather",
             lambda t, d=d, it=it: torch.gather(t, d, it), [draw(shape)],
             [d, 2, len(idx), len(idx[0])] + flat)

    embs = [("plain", None, [[0, 3], [3, 1]]), ("pad", 1, [[1, 2, 1], [0, 1, 4]]),
            ("pad_neg", -1, [[4, 0, 4, 2]])]
    for tag, pad, idx in embs:
        it = torch.tensor(idx)
        flat = [v for row in idx for v in row]
        case("embedding_" + tag, "embedding",
             lambda w, it=it, pad=pad: F.embedding(it, w, padding_idx=pad), [draw((5, 3))],
             [0 if pad is None else 1, 0 if pad is None else pad, 2, len(idx), len(idx[0])] + flat)


REDUCTIONS = (("mean", 0, "mean"), ("sum", 1, "sum"), ("none", 2, "none"))


def loss_cases():
    losses = {
        "mse_loss": (F.mse_loss, {}, {}),
        "l1_loss": (F.l1_loss, {}, {}),
        "bce_loss": (F.binary_cross_entropy, {"lo": 0.05, "hi": 0.95}, {"lo": 0.0, "hi": 1.0}),
        "bce_with_logits_loss": (F.binary_cross_entropy_with_logits, {}, {"lo": 0.0, "hi": 1.0}),
    }
    for op, (fn, xkw, tkw) in losses.items():
        for tag, red, tred in REDUCTIONS:
            f = lambda x, t, fn=fn, tred=tred: fn(x, t, reduction=tred)
            case("%s_%s" % (op, tag), op, f, [draw((3, 4), **xkw), draw((3, 4), **tkw)], [red])
    for tag, red, tred in REDUCTIONS:
        targets = [rng.randrange(5) for _ in range(4)]
        tt = torch.tensor(targets)
        f = lambda x, tt=tt, tred=tred: F.cross_entropy(x, tt, reduction=tred)
        case("cross_entropy_loss_%s" % tag, "cross_entropy_loss", f, [draw((4, 5), -3.0, 3.0)],
             [red] + targets)
    for w in (0.5, 2.0):
        f = lambda x, w=w: w * x.abs().sum() / x.shape[0]
        case("l1_penalty_%g" % w, "l1_penalty", f, [draw((3, 4), kinks=(0,))], [w])


def more_loss_cases():
    """Huber, SmoothL1, KL (batchmean), NLL, cross entropy with label
    smoothing and ignore_index."""
    for op, fn, params in (("huber_loss", F.huber_loss, (1.0, 0.3)),
                           ("smooth_l1_loss", F.smooth_l1_loss, (1.0, 0.4))):
        for p in params:
            for tag, red, tred in REDUCTIONS:
                f = lambda x, t, fn=fn, p=p, tred=tred: fn(x, t, reduction=tred, **(
                    {"delta": p} if fn is F.huber_loss else {"beta": p}))
                case("%s_%g_%s" % (op, p, tag), op, f, [draw((3, 4)), draw((3, 4))], [red, p])
    kl_reds = REDUCTIONS + (("batchmean", 3, "batchmean"),)
    for tag, red, tred in kl_reds:
        f = lambda x, t, tred=tred: F.kl_div(x, t, reduction=tred)
        logq = torch.log_softmax(draw((3, 4)), 1)
        p = torch.softmax(draw((3, 4)), 1)
        case("kl_div_loss_" + tag, "kl_div_loss", f, [logq, p], [red])
    # [N, C] = [5, 4]; ignore_index -100 and, for one case, a real class (2)
    setups = [("plain", 0.0, 0, 0, [1, 0, 3, 3, 2]),
              ("smooth", 0.1, 0, 0, [1, 0, 3, 3, 2]),
              ("ignore", 0.0, 1, -100, [1, -100, 3, -100, 2]),
              ("smooth_ignore", 0.25, 1, -100, [-100, 0, 3, 3, 2]),
              ("ignore_class", 0.2, 1, 2, [2, 0, 2, 1, 3])]
    for tag, eps, ign, ii, targets in setups:
        tt = torch.tensor(targets)
        kw = {"ignore_index": ii} if ign else {}
        for rtag, red, tred in REDUCTIONS:
            f = lambda x, tt=tt, tred=tred, eps=eps, kw=kw: F.cross_entropy(
                x, tt, reduction=tred, label_smoothing=eps, **kw)
            case("cross_entropy_loss_with_%s_%s" % (tag, rtag), "cross_entropy_loss_with", f,
                 [draw((5, 4), -3.0, 3.0)], [red, eps, ign, ii] + targets)
            if eps == 0:
                f = lambda x, tt=tt, tred=tred, kw=kw: F.nll_loss(x, tt, reduction=tred, **kw)
                logp = torch.log_softmax(draw((5, 4), -3.0, 3.0), 1)
                case("nll_loss_%s_%s" % (tag, rtag), "nll_loss", f, [logp],
                     [red, 0.0, ign, ii] + targets)


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
    loss_cases()
    layer_op_cases()
    more_loss_cases()
    write_refs("op_refs.txt", "tests/gen_op_refs.py", SEED)


if __name__ == "__main__":
    main()
