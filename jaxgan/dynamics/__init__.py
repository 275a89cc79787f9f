"""Running a field in discrete time: update rules, optimisers, adaptive integration, `simulate`.

An update rule is a pair of pure functions, as in optax:

    state          = rule.init(field, z0)
    z_new, state   = rule.step(field, z, state, lr)

Built-in rules: `"euler"` (the article's script), `"alternating"`, `"rk4"`, `"extragradient"`,
`"optimistic"`; any `optax.GradientTransformation` (each player ascends its own objective, so
the optimiser is fed the gradient `-v(z)` of the loss); `Optimizer(optax.sgd, learning_rate=…,
momentum=…)`, an optax optimiser whose numeric hyper-parameters are traced (new values never
recompile); `"adaptive"` / `adaptive(...)`, adaptive continuous-time integration through
diffrax (optional extra), where `lr` is the time between two states.

Every function that runs a field takes the same `method=` (any of the above) and `lr=`.
"""

from ..fates import Fate
from .adaptive import adaptive
from .guard import canonical_state, guarded_step, probed_step
from .methods import check_lr, get_rule, method_args
from .optimizers import Optimizer
from .rules import ALTERNATING, EULER, EXTRAGRADIENT, OPTIMISTIC, RK4, UpdateRule, is_optax, optax_rule, register_rule, rule_names
from .simulate import DomainExitWarning, Trajectory, simulate

__all__ = ["Fate", "UpdateRule", "get_rule", "rule_names", "simulate", "Trajectory", "DomainExitWarning",
           "Optimizer", "adaptive", "register_rule", "method_args", "check_lr", "canonical_state", "guarded_step", "probed_step",
           "is_optax", "optax_rule", "EULER", "ALTERNATING", "RK4", "EXTRAGRADIENT", "OPTIMISTIC"]
