#!/usr/bin/python3
"""Reference trajectories for tests/test_optimizers.c, computed with PyTorch 1.13.

Run with Debian's interpreter (torch is only installed for it):

    /usr/bin/python3 tests/gen_optim_refs.py > tests/data/optim_refs.txt

The file is plain text, one record per line, numbers as printed by Python
('%.17g' for float64 values, '%.9g' for float32 ones: both round-trip):

    CGRAD-OPTIMREF 2                     magic and version
    shape <d0> [<d1> ...]                one line per parameter (in order)
    p0 <values>                          starting values, all parameters flattened
    steps <n>                            number of gradient lines that follow
    grad <k> <mask0> <mask1> ... <values>
                                         gradient of step k (all parameters
                                         flattened); mask i = 0 means parameter
                                         i has no grad in that step (.grad = None)
    case <name> <SGD|Adam|AdamW|RMSprop|Adagrad> <f32|f64> <steps>
    opt <key> <value>                    constructor argument (booleans 0/1);
                                         'sched_*' keys: a OneCycleLR stepped
                                         after each step, over two groups
                                         (parameter 0, parameter 1), with
                                         sched_<setting>[0|1] per group
    after <k>                            then, for the state after step k:
    p <values>                           parameters
    s <what> <values>                    state tensor 'what' (flattened over
                                         the parameters that have it)
    count <c0> <c1> ...                  state['step'] of each parameter (0
                                         for SGD, which keeps none)
    end                                  closes the case
    sched <name> <n> <values>            group 0's lr after each of n
                                         scheduler.step() calls (base lr 0.1)
    sched_group1 <name> <n> <values>     the same for group 1 (base lr 0.02)
    sched_momentum <name> <n> <values>   OneCycleLR cycling momentum: group 0's
                                         momentum (SGD, RMSprop) or beta1
                                         (Adam) at creation, then after each
                                         of n - 1 steps; the optimizer is the
                                         name's second word
    sched_momentum_group1 <name> <n> <values>   the same for group 1
    metrics <n> <values>                 what ReduceLROnPlateau cases are fed
"""
import itertools
import math

import torch

SHAPES = [(2, 2), (2,)]
N = sum(math.prod(s) for s in SHAPES)
P0 = [0.5, -1.25, 2.0, 0.75, -0.3, 1.1]
STEPS_ALL = 20
STEPS_LONG = 100
# Steps in which the second parameter gets no gradient, as a frozen or
# unused branch would: PyTorch skips it (and does not count its step).
NO_GRAD_1 = {3, 8, 9, 15, 40, 77}


def grad_at(k):
    """A deterministic gradient for step k, varied in sign and size."""
    return [math.sin(0.7 * k + 1.3 * i) * (0.2 + 0.15 * i) + 0.05 * math.cos(3.1 * k * (i + 1))
            for i in range(N)]


def mask_at(k):
    return [1, 0 if k in NO_GRAD_1 else 1]


def split(flat, dtype):
    out, i = [], 0
    for s in SHAPES:
        n = math.prod(s)
        out.append(torch.tensor(flat[i:i + n], dtype=torch.float64).reshape(s).to(dtype))
        i += n
    return out


BETAS = (0.8, 0.95)
ADAM_CASES = [dict(lr=0.05, betas=BETAS, eps=1e-8, weight_decay=wd, amsgrad=ams, maximize=mx)
              for wd, ams, mx in itertools.product((0.0, 0.1), (False, True), (False, True))]
RMSPROP_CASES = [dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=wd, momentum=mom,
                      centered=cen, maximize=mx)
                 for wd, mom, cen, mx in itertools.product((0.0, 0.05), (0.0, 0.9),
                                                           (False, True), (False, True))]
ADAGRAD_CASES = [dict(lr=0.1, lr_decay=lrd, weight_decay=wd, initial_accumulator_value=acc,
                      eps=1e-10, maximize=mx)
                 for lrd, wd, acc, mx in itertools.product((0.0, 0.05), (0.0, 0.05), (0.0, 0.1),
                                                           (False, True))]
STATE = {
    "SGD": ("momentum_buffer",),
    "Adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "AdamW": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "RMSprop": ("square_avg", "momentum_buffer", "grad_avg"),
    "Adagrad": ("sum",),
}
CLASSES = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
           "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad}


def fmt(values, dtype):
    f = "%.17g" if dtype == torch.float64 else "%.9g"
    return " ".join(f % float(v) for v in values)


def flat(tensors):
    return [float(v) for t in tensors for v in t.detach().reshape(-1).tolist()]


def case_name(kind, o):
    parts = [kind.lower()]
    for key in ("weight_decay", "lr_decay", "initial_accumulator_value", "momentum"):
        if o.get(key):
            parts.append(key)
    for key in ("amsgrad", "centered", "maximize"):
        if o.get(key):
            parts.append(key)
    return "_".join(parts)


def make_onecycle(opt, sched):
    """The OneCycleLR that the 'sched_*' options of a case describe."""
    S = torch.optim.lr_scheduler
    per_group = lambda key: [sched[key + "0"], sched[key + "1"]]
    return S.OneCycleLR(opt, max_lr=per_group("max_lr"), total_steps=sched["total_steps"],
                        pct_start=sched["pct_start"],
                        anneal_strategy="linear" if sched["anneal_linear"] else "cos",
                        three_phase=bool(sched["three_phase"]),
                        base_momentum=per_group("base_momentum"),
                        max_momentum=per_group("max_momentum"))


def run_case(out, kind, o, dtype, steps, tag="", name=None, sched=None):
    params = [t.clone().requires_grad_() for t in split(P0, dtype)]
    groups = [{"params": [p]} for p in params] if sched else params
    opt = CLASSES[kind](groups, foreach=False, **o)
    schedule = make_onecycle(opt, sched) if sched else None
    dn = "f64" if dtype == torch.float64 else "f32"
    out.append("case %s%s %s %s %d" % (name or case_name(kind, o), tag, kind, dn, steps))
    for key, val in o.items():
        if key == "betas":
            out.append("opt beta1 %r" % val[0])
            out.append("opt beta2 %r" % val[1])
        else:
            out.append("opt %s %r" % (key, float(val)))
    for key, val in (sched or {}).items():
        out.append("opt sched_%s %r" % (key, float(val)))
    for k in range(steps):
        g, m = grad_at(k), mask_at(k)
        for p, gt, mk in zip(params, split(g, dtype), m):
            p.grad = gt.clone() if mk else None
        opt.step()
        if schedule:
            schedule.step()
        out.append("after %d" % k)
        out.append("p " + fmt(flat(params), dtype))
        for what in STATE[kind]:
            have = [opt.state[p][what] for p in params
                    if opt.state[p].get(what) is not None]
            if have:
                out.append("s %s %s" % (what, fmt(flat(have), dtype)))
        counts = [opt.state[p]["step"] if "step" in opt.state[p] else 0 for p in params]
        out.append("count " + " ".join("%d" % int(float(c)) for c in counts))
    out.append("end")


# Trajectories through a OneCycleLR that cycles the momentum, so that the
# steps are seen to use each group's cycled momentum / beta1.
ONECYCLE_COS = dict(max_lr0=0.1, max_lr1=0.05, total_steps=25, pct_start=0.3, anneal_linear=0,
                    three_phase=0, base_momentum0=0.85, base_momentum1=0.85,
                    max_momentum0=0.95, max_momentum1=0.95)
ONECYCLE_LINEAR3 = dict(max_lr0=0.08, max_lr1=0.2, total_steps=22, pct_start=0.25,
                        anneal_linear=1, three_phase=1, base_momentum0=0.8,
                        base_momentum1=0.7, max_momentum0=0.9, max_momentum1=0.95)
ONECYCLE_CASES = [
    ("sgd_onecycle_cos", "SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01), ONECYCLE_COS),
    ("sgd_nesterov_onecycle_linear3", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True),
     ONECYCLE_LINEAR3),
    # momentum 0 at creation: OneCycleLR's momentum is used all the same.
    ("sgd_nomomentum_onecycle_cos", "SGD", dict(lr=0.1, dampening=0.1), ONECYCLE_COS),
    ("adam_onecycle_cos", "Adam",
     dict(lr=0.05, betas=BETAS, eps=1e-8, weight_decay=0.1, amsgrad=True), ONECYCLE_COS),
    ("adamw_onecycle_linear3", "AdamW",
     dict(lr=0.05, betas=BETAS, eps=1e-8, weight_decay=0.01), ONECYCLE_LINEAR3),
    ("rmsprop_onecycle_cos", "RMSprop",
     dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.5, centered=True), ONECYCLE_COS),
    ("rmsprop_nomomentum_onecycle_linear3", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-8),
     ONECYCLE_LINEAR3),
]


METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.89, 0.9, 0.9, 0.9, 0.9, 0.7, 0.7, 0.71, 0.72, 0.73,
           0.74, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4,
           0.39, 0.39, 0.39, 0.39, 0.39, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
           0.2, 0.3, 0.05, 0.05, 0.05]


def schedules():
    S = torch.optim.lr_scheduler
    return [
        ("steplr", lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
        ("cosine", lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
        ("multistep", lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3)),
        ("exponential", lambda o: S.ExponentialLR(o, gamma=0.93)),
        ("linear", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8)),
        ("linear_decay", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                              total_iters=30)),
        ("onecycle_cos", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51,
                                                pct_start=0.3, cycle_momentum=False)),
        ("onecycle_linear3", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51,
                                                    pct_start=0.25, anneal_strategy="linear",
                                                    div_factor=10.0, final_div_factor=100.0,
                                                    three_phase=True, cycle_momentum=False)),
        ("plateau_min_rel", lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1,
                                                          threshold=1e-2, threshold_mode="rel",
                                                          cooldown=2, min_lr=[0.004, 0.001])),
        ("plateau_max_abs", lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1,
                                                          threshold=0.05, threshold_mode="abs",
                                                          cooldown=0, min_lr=0.0, eps=1e-8)),
        ("sequential", lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1,
                                                               total_iters=5),
                                                    S.CosineAnnealingLR(o, T_max=45,
                                                                        eta_min=1e-4)],
                                                milestones=[5])),
    ]


# OneCycleLR cycling momentum, on each kind of optimizer with a momentum:
# (name word, class, constructor arguments besides lr).
MOMENTUM_OPTIMIZERS = [
    ("sgd", torch.optim.SGD, dict(momentum=0.9)),
    ("sgd0", torch.optim.SGD, dict()),
    ("adam", torch.optim.Adam, dict(betas=BETAS)),
    ("rmsprop", torch.optim.RMSprop, dict(momentum=0.5)),
]


def momentum_schedules():
    S = torch.optim.lr_scheduler
    return [
        ("cos", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51, pct_start=0.3)),
        ("cos3", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51, pct_start=0.25,
                                        div_factor=10.0, final_div_factor=100.0,
                                        three_phase=True, base_momentum=[0.8, 0.7],
                                        max_momentum=[0.9, 0.95])),
        ("linear", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51,
                                          pct_start=0.4, anneal_strategy="linear",
                                          base_momentum=0.75, max_momentum=0.9)),
        ("linear3", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=51,
                                           pct_start=0.25, anneal_strategy="linear",
                                           three_phase=True, base_momentum=[0.8, 0.7],
                                           max_momentum=[0.9, 0.95])),
    ]


def group_momentum(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def run_schedule(make, name, cls=torch.optim.SGD, kwargs=None):
    p0, p1 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = cls([{"params": [p0]}, {"params": [p1], "lr": 0.02}], lr=0.1, **(kwargs or {}))
    s = make(opt)
    lrs0, lrs1 = [], []
    moms = [[group_momentum(g)] for g in opt.param_groups]
    for k in range(50):
        opt.step()
        if name.startswith("plateau"):
            s.step(METRICS[k] if "min" in name else -METRICS[k])
        else:
            s.step()
        lrs0.append(opt.param_groups[0]["lr"])
        lrs1.append(opt.param_groups[1]["lr"])
        for m, g in zip(moms, opt.param_groups):
            m.append(group_momentum(g))
    return lrs0, lrs1, moms


def main():
    out = ["CGRAD-OPTIMREF 2",
           "# generated by tests/gen_optim_refs.py with torch %s" % torch.__version__]
    out += ["shape " + " ".join(str(d) for d in s) for s in SHAPES]
    out.append("p0 " + fmt(P0, torch.float64))
    out.append("steps %d" % STEPS_LONG)
    for k in range(STEPS_LONG):
        out.append("grad %d %s %s" % (k, " ".join(str(m) for m in mask_at(k)),
                                      fmt(grad_at(k), torch.float64)))
    all_cases = ([("Adam", o) for o in ADAM_CASES] + [("AdamW", o) for o in ADAM_CASES] +
                 [("RMSprop", o) for o in RMSPROP_CASES] +
                 [("Adagrad", o) for o in ADAGRAD_CASES])
    for dtype in (torch.float64, torch.float32):
        for kind, o in all_cases:
            run_case(out, kind, o, dtype, STEPS_ALL)
    # One long run per optimizer and dtype, with every option on.
    long_runs = [("Adam", ADAM_CASES[-1]), ("AdamW", ADAM_CASES[-1]),
                 ("RMSprop", RMSPROP_CASES[-1]), ("Adagrad", ADAGRAD_CASES[-1])]
    for dtype in (torch.float64, torch.float32):
        for kind, o in long_runs:
            run_case(out, kind, o, dtype, STEPS_LONG, "_long")
    for dtype in (torch.float64, torch.float32):
        for name, kind, o, sched in ONECYCLE_CASES:
            run_case(out, kind, o, dtype, STEPS_ALL, name=name, sched=sched)
    out.append("metrics %d %s" % (len(METRICS), fmt(METRICS, torch.float64)))
    for name, make in schedules():
        lrs0, lrs1, _ = run_schedule(make, name)
        out.append("sched %s %d %s" % (name, len(lrs0), fmt(lrs0, torch.float64)))
        out.append("sched_group1 %s %d %s" % (name, len(lrs1), fmt(lrs1, torch.float64)))
    for word, cls, kwargs in MOMENTUM_OPTIMIZERS:
        for shape, make in momentum_schedules():
            name = "onecycle_%s_%s" % (word, shape)
            lrs0, lrs1, moms = run_schedule(make, name, cls, kwargs)
            out.append("sched %s %d %s" % (name, len(lrs0), fmt(lrs0, torch.float64)))
            out.append("sched_group1 %s %d %s" % (name, len(lrs1), fmt(lrs1, torch.float64)))
            for key, m in zip(("sched_momentum", "sched_momentum_group1"), moms):
                out.append("%s %s %d %s" % (key, name, len(m), fmt(m, torch.float64)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
