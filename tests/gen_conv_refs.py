#!/usr/bin/python3
"""Reference values for the convolution, pooling and BatchNorm2d ops
(tests/test_conv.c and tests/test_ops_forward.c), computed with PyTorch 1.13.

    /usr/bin/python3 tests/gen_conv_refs.py     # rewrites tests/data/conv_refs.txt

Same file format and case recording as tests/gen_op_refs.py (imported from
it): fixed float64 inputs, a fixed upstream gradient, torch's output and
input gradients.  Scalars per op (as cg_opref_run passes them on):

    conv2d:     stride_h stride_w pad_h pad_w dil_h dil_w groups   (2 or 3 inputs)
    conv2d_relu: as conv2d; torch's relu(conv2d(...))
    conv2d_relu_max_pool2d: as conv2d; max_pool2d(relu(conv2d(...)), 2)
    conv1d:     stride pad dil groups                               (2 or 3 inputs)
    max_pool2d: kh kw stride_h stride_w pad_h pad_w dil_h dil_w
    avg_pool2d: kh kw stride_h stride_w pad_h pad_w count_include_pad(0/1)
    adaptive_avg_pool2d: out_h out_w
    batch_norm2d: (none) x weight bias, training mode, eps 1e-5

Cases whose name contains "ties" have repeated values on purpose (for max
pooling: which element gets the gradient); finite differences are not
meaningful there, so test_conv.c checks them against torch only.
"""
import torch
import torch.nn.functional as F

import gen_op_refs as base

SEED = 20261201
base.rng.seed(SEED)
draw, case = base.draw, base.case


def conv2d_cases():
    # name, x shape, out channels, (kh, kw), stride, pad, dil, groups, bias
    table = [
        ("k3_b1_7x5", (1, 2, 7, 5), 3, (3, 3), (1, 1), (0, 0), (1, 1), 1, True),
        ("k3_pad1_b3", (3, 2, 7, 5), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("k53_s2_pad2", (3, 3, 7, 5), 2, (5, 3), (2, 2), (2, 2), (1, 1), 1, True),
        ("k3_dil2_nobias", (1, 2, 7, 7), 3, (3, 3), (1, 1), (1, 1), (2, 2), 1, False),
        ("k3_groups2", (3, 4, 6, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2, True),
        ("k3_depthwise_s2", (3, 3, 7, 5), 3, (3, 3), (2, 2), (1, 1), (1, 1), 3, True),
        ("k3_depthwise_x2", (1, 3, 5, 7), 6, (3, 3), (1, 1), (0, 0), (1, 1), 3, False),
        ("k1_direct", (3, 4, 5, 7), 2, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
        ("k1_s2", (1, 3, 7, 5), 2, (1, 1), (2, 2), (0, 0), (1, 1), 1, True),
        ("k1_pad1", (1, 2, 4, 3), 2, (1, 1), (1, 1), (1, 1), (1, 1), 1, False),
        ("k53_mixed", (3, 2, 9, 7), 3, (5, 3), (2, 1), (2, 1), (1, 2), 1, True),
        ("k3_s2_pad2_groups2", (1, 4, 7, 5), 4, (3, 3), (2, 2), (2, 2), (1, 1), 2, True),
    ]
    conv2d_table_cases("conv2d", table, lambda y: y)


def conv2d_table_cases(op, table, after):
    """One case per row: name, x shape, out channels, kernel, stride, pad,
    dil, groups, bias; the op's output is after(F.conv2d(...))."""
    for name, xs, o, k, s, p, d, g, bias in table:
        x = draw(xs)
        w = draw((o, xs[1] // g) + k, -1.0, 1.0)
        inputs = [x, w] + ([draw((o,), -1.0, 1.0)] if bias else [])
        fn = (lambda x, w, b=None, s=s, p=p, d=d, g=g:
              after(F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)))
        case(op + "_" + name, op, fn, inputs, list(s) + list(p) + list(d) + [g])


def conv1d_cases():
    table = [
        ("k3_pad1", (3, 2, 9), 4, 3, 1, 1, 1, 1, True),
        ("k3_s2_pad2_dil2_groups2", (1, 4, 11), 2, 3, 2, 2, 2, 2, True),
        ("k1", (3, 3, 5), 2, 1, 1, 0, 1, 1, False),
        ("k5_depthwise", (1, 3, 7), 3, 5, 1, 2, 1, 3, True),
    ]
    for name, xs, o, k, s, p, d, g, bias in table:
        x = draw(xs)
        w = draw((o, xs[1] // g, k), -1.0, 1.0)
        inputs = [x, w] + ([draw((o,), -1.0, 1.0)] if bias else [])
        fn = (lambda x, w, b=None, s=s, p=p, d=d, g=g:
              F.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=g))
        case("conv1d_" + name, "conv1d", fn, inputs, [s, p, d, g])


def ties(shape, levels=3):
    """Whole numbers 0..levels-1: windows full of equal maxima."""
    return torch.tensor([float(base.rng.randrange(levels)) for _ in range(base.numel(shape))],
                        dtype=base.DT).reshape(shape)


def pool_cases():
    # name, x, (kh, kw), stride, pad, dil
    maxes = [
        ("k2_s2_7x5", draw((3, 2, 7, 5), distinct=True), (2, 2), (2, 2), (0, 0), (1, 1)),
        ("k3_s2_pad1", draw((1, 2, 7, 5), distinct=True), (3, 3), (2, 2), (1, 1), (1, 1)),
        ("k2_dil2", draw((1, 1, 7, 5), distinct=True), (2, 2), (1, 1), (0, 0), (2, 2)),
        ("k53_mixed", draw((3, 1, 9, 7), distinct=True), (5, 3), (2, 1), (2, 1), (1, 2)),
        ("ties_k3_pad1", ties((3, 2, 5, 4)), (3, 3), (1, 1), (1, 1), (1, 1)),
        ("ties_k2_s2", ties((1, 2, 6, 6), 2), (2, 2), (2, 2), (0, 0), (1, 1)),
    ]
    for name, x, k, s, p, d in maxes:
        fn = lambda x, k=k, s=s, p=p, d=d: F.max_pool2d(x, k, s, p, d)
        case("max_pool2d_" + name, "max_pool2d", fn, [x], list(k) + list(s) + list(p) + list(d))
    avgs = [
        ("k2_s2_7x5", (3, 2, 7, 5), (2, 2), (2, 2), (0, 0), True),
        ("k3_s2_pad1_incl", (1, 2, 7, 5), (3, 3), (2, 2), (1, 1), True),
        ("k3_s2_pad1_excl", (1, 2, 7, 5), (3, 3), (2, 2), (1, 1), False),
        ("k53_mixed_excl", (3, 1, 9, 7), (5, 3), (1, 2), (2, 1), False),
        ("k53_mixed_incl", (1, 1, 9, 7), (5, 3), (1, 2), (2, 1), True),
    ]
    for name, xs, k, s, p, incl in avgs:
        fn = lambda x, k=k, s=s, p=p, incl=incl: F.avg_pool2d(x, k, s, p, count_include_pad=incl)
        case("avg_pool2d_" + name, "avg_pool2d", fn, [draw(xs)],
             list(k) + list(s) + list(p) + [1 if incl else 0])
    adaptive = [("7x5_to_3x2", (3, 2, 7, 5), (3, 2)), ("5x7_to_2x3", (1, 2, 5, 7), (2, 3)),
                ("7x5_same", (1, 1, 7, 5), (7, 5)), ("6x6_to_1x1", (3, 2, 6, 6), (1, 1)),
                ("3x2_to_5x4", (1, 1, 3, 2), (5, 4))]
    for name, xs, o in adaptive:
        fn = lambda x, o=o: F.adaptive_avg_pool2d(x, o)
        case("adaptive_avg_pool2d_" + name, "adaptive_avg_pool2d", fn, [draw(xs)], list(o))


def batch_norm_cases():
    for name, xs in (("b3_c4_5x3", (3, 4, 5, 3)), ("b1_c2_3x3", (1, 2, 3, 3)),
                     ("b5_c3_1x1", (5, 3, 1, 1))):
        c = xs[1]
        fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
        case("batch_norm2d_" + name, "batch_norm2d", fn,
             [draw(xs), draw((c,), 0.5, 2.0, sign=True), draw((c,))])


def conv2d_relu_cases():
    # drawn after every other case, so the earlier cases keep their inputs
    table = [
        ("k3_pad1_b3", (3, 2, 7, 5), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("k3_s2_groups2_nobias", (2, 4, 7, 6), 6, (3, 3), (2, 2), (1, 1), (1, 1), 2, False),
        ("k1_direct", (2, 3, 4, 5), 2, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
    ]
    conv2d_table_cases("conv2d_relu", table, torch.relu)


def conv2d_relu_max_pool2d_cases():
    # drawn last, so every earlier case keeps its inputs
    table = [
        ("k3_pad1_b3_odd", (3, 2, 7, 5), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("k3_groups2_nobias", (2, 4, 8, 6), 4, (3, 3), (1, 1), (0, 0), (1, 1), 2, False),
        ("k1_direct", (2, 3, 4, 6), 3, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
    ]
    conv2d_table_cases("conv2d_relu_max_pool2d", table,
                       lambda y: F.max_pool2d(torch.relu(y), 2))


def main():
    conv2d_cases()
    conv1d_cases()
    pool_cases()
    batch_norm_cases()
    conv2d_relu_cases()
    conv2d_relu_max_pool2d_cases()
    base.write_refs("conv_refs.txt", "tests/gen_conv_refs.py", SEED)


if __name__ == "__main__":
    main()
