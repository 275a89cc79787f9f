"""Adapters of flax.linen, flax.nnx and equinox modules to the `Network` protocol.

flax and equinox are optional extras: this module imports them only when a module of theirs is
given (`network.framework_of` recognises one without importing anything). Each adapter is a
small frozen callable, hashable by the model's structure, so that a `Network` rebuilt from the
same model keys the same compiled code.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from .._checks import bad_type
from ..errors import ArgumentError, MissingExtraError
from .network import Network, TreeKey, value_key

__all__: list = []

_EXTRA = {"flax": "flax", "equinox": "equinox"}
MODE_ARGS = ("train", "training", "is_training", "deterministic", "use_running_average", "eval", "inference")
_NEGATED = ("deterministic", "use_running_average", "eval", "inference")
LINEN_STATE = ("batch_stats",)


def require(lib: str, who: str):
    """Import `lib`, or `MissingExtraError` (an ImportError) with one line naming the extra."""
    try:
        return importlib.import_module(lib)
    except ImportError:  # pragma: no cover - the test extra installs both
        top = lib.split(".")[0]
        raise MissingExtraError(f"{who} needs {top} for this model, an optional extra: "
                                f"pip install -e \".[{_EXTRA.get(top, top)}]\"") from None


def check_fits(who: str, arg: str, given, expected, what: str) -> None:
    """`given` has the tree structure and leaf shapes of `expected` (a pytree of arrays or
    ShapeDtypeStructs), else `ArgumentError` naming the first difference."""
    exp_paths = {jax.tree_util.keystr(p): jnp.shape(v) for p, v in jax.tree_util.tree_leaves_with_path(expected)}
    got_paths = {jax.tree_util.keystr(p): jnp.shape(v) for p, v in jax.tree_util.tree_leaves_with_path(given)}
    missing = [k for k in exp_paths if k not in got_paths]
    extra = [k for k in got_paths if k not in exp_paths]
    if missing or extra:
        parts = ([f"missing {missing[:3]}"] if missing else []) + ([f"unexpected {extra[:3]}"] if extra else [])
        raise ArgumentError(f"{who} argument `{arg}` does not fit {what}: " + "; ".join(parts) + ".")
    for k, shape in exp_paths.items():
        if got_paths[k] != shape:
            raise ArgumentError(f"{who} argument `{arg}` does not fit {what}: entry {k} must have shape {shape}; "
                                f"got {got_paths[k]}.")


# ============================================================================ flax.linen


@dataclasses.dataclass(frozen=True)
class LinenApply:
    """`module.apply` with the mode keyword and the `batch_stats` collection handled."""

    module: Any  # the module (hashable) or a TreeKey of it
    mode_arg: str | None
    stateful: tuple

    def __call__(self, params, state, x, *, train=False, rng=None, **kw):
        module = self.module.tree if isinstance(self.module, TreeKey) else self.module
        if self.mode_arg is not None:
            kw[self.mode_arg] = (not train) if self.mode_arg in _NEGATED else bool(train)
        variables = {"params": params, **(state or {})}
        rngs = None if rng is None else {"dropout": rng}
        if train and self.stateful:
            out, updated = module.apply(variables, x, rngs=rngs, mutable=list(self.stateful), **kw)
            return out, {k: updated[k] for k in self.stateful}
        return module.apply(variables, x, rngs=rngs, **kw), state

    def __repr__(self):
        module = self.module.tree if isinstance(self.module, TreeKey) else self.module
        return f"LinenApply({type(module).__name__}, mode_arg={self.mode_arg!r})"

    @property
    def model(self):
        return self.module.tree if isinstance(self.module, TreeKey) else self.module


def _linen_mode_arg(model, train_arg, who):
    try:
        sig = inspect.signature(type(model).__call__)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        sig = None
    names = [] if sig is None else list(sig.parameters)
    var_kw = sig is not None and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if train_arg == "auto":
        return next((n for n in MODE_ARGS if n in names), None)
    if train_arg is None:
        return None
    if not isinstance(train_arg, str):
        raise bad_type(who, "train_arg", "the name of the module's mode keyword, 'auto' or None", train_arg)
    if train_arg not in names and not var_kw:
        raise ArgumentError(f"{who} argument `train_arg={train_arg!r}` is not a keyword of "
                            f"{type(model).__name__}.__call__ (it takes {names[1:]}).")
    return train_arg


def linen(model, params, state, train_arg, who) -> Network:
    """A flax.linen module with its variables (see `network`)."""
    if params is None:
        raise ArgumentError(f"{who} argument `params` must be the variables of the flax.linen module "
                            f"{type(model).__name__} (from module.init); got None.")
    if state is not None:
        raise ArgumentError(f"{who} argument `state` is for equinox models; a flax.linen module's batch "
                            f"statistics are its 'batch_stats' collection in `params`.")
    if not isinstance(params, Mapping):
        raise bad_type(who, "params", "the flax variables dict {'params': ..., 'batch_stats': ...}", params)
    variables = dict(params) if "params" in params else {"params": params}
    unknown = sorted(k for k in variables if k not in ("params",) + LINEN_STATE)
    if unknown:
        raise ArgumentError(
            f"{who} argument `params` holds the mutable collection {unknown[0]!r}, which jaxgan does not understand: "
            f"only 'params' (trainable) and 'batch_stats' (BatchNorm statistics) are; drop it or fold it into "
            f"a plain apply(params, x).")
    mode_arg = _linen_mode_arg(model, train_arg, who)
    stateful = tuple(k for k in LINEN_STATE if k in variables)
    state = {k: variables[k] for k in stateful} or None
    return Network(LinenApply(value_key(model), mode_arg, stateful), variables["params"], state, "linen",
                   bool(stateful), mode_arg is not None)


def check_linen_fits(net: Network, x, who: str) -> None:
    """The variables of a linen `Network` are those `module.init` makes for inputs like `x`
    (shapes only: abstract evaluation, nothing is compiled)."""
    adapter = net.apply_fn
    kw = {}
    if adapter.mode_arg is not None:
        kw[adapter.mode_arg] = adapter.mode_arg in _NEGATED  # eval mode
    key = jax.random.PRNGKey(0)
    try:
        expected = jax.eval_shape(lambda xx: adapter.model.init({"params": key, "dropout": key}, xx, **kw), x)
    except Exception:  # noqa: BLE001 - the module's own error is reported by the output check
        return
    variables = {"params": net.params, **(net.state or {})}
    check_fits(who, "params", variables, dict(expected), f"the flax.linen module {type(adapter.model).__name__}")


# ============================================================================ flax.nnx


@dataclasses.dataclass(frozen=True)
class NnxApply:
    """`nnx.merge` of the train or eval graph with the parameters, batch statistics and rng state."""

    graph_train: Any
    graph_eval: Any

    def __call__(self, params, state, x, *, train=False, rng=None, **kw):
        from flax import nnx

        # fresh Variables at this trace level (nnx refuses to mutate, e.g. an rng count, across levels)
        params, (stats, rest) = jax.tree_util.tree_map(lambda a: a, (params, state))
        model = nnx.merge(self.graph_train if train else self.graph_eval, params, stats, rest)
        if rng is not None:
            nnx.reseed(model, dropout=rng, default=rng)
        out = model(x, **kw)
        return out, ((nnx.state(model, nnx.BatchStat), rest) if train else state)


def nnx_module(model, params, state, train_arg, who) -> Network:
    """A flax.nnx module (see `network`); the model itself is never changed."""
    nnx = require("flax.nnx", who)
    if state is not None:
        raise ArgumentError(f"{who} argument `state` is for equinox models; an nnx module carries its BatchStats.")
    allowed = (nnx.Param, nnx.BatchStat, nnx.RngState)
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Variable) and not isinstance(node, allowed):
            raise ArgumentError(
                f"{who} argument `model` holds the variable {'.'.join(map(str, path))} of type "
                f"{type(node).__name__}, which jaxgan does not understand: only nnx.Param (trainable), "
                f"nnx.BatchStat (BatchNorm statistics) and rng state are.")
    graph, own, stats, rest = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
    copy = nnx.merge(graph, own, stats, rest)  # a copy of the module objects: switching its mode leaves `model` alone
    copy.train()
    graph_train = nnx.split(copy, nnx.Param, nnx.BatchStat, ...)[0]
    copy.eval()
    graph_eval = nnx.split(copy, nnx.Param, nnx.BatchStat, ...)[0]
    if params is not None:
        check_fits(who, "params", params, own, f"the nnx.Param state of {type(model).__name__}")
        own = params
    batchnorm = bool(jax.tree_util.tree_leaves(stats))
    return Network(NnxApply(graph_train, graph_eval), own, (stats, rest), "nnx", batchnorm, graph_train != graph_eval)


# ============================================================================ equinox


@dataclasses.dataclass(frozen=True)
class EqxApply:
    """A per-example equinox module, `vmap`ped over the batch (`axis_name="batch"`)."""

    static: TreeKey  # the non-array part of the module
    stateful: bool

    def __call__(self, params, state, x, *, train=False, rng=None, **kw):
        import equinox as eqx

        model = eqx.nn.inference_mode(eqx.combine(params, self.static.tree), value=not train)
        if state is not None:  # a fresh State object: equinox invalidates one it has updated
            leaves, treedef = jax.tree_util.tree_flatten(state)
            state = jax.tree_util.tree_unflatten(treedef, leaves)
        keys = None if rng is None else jax.random.split(rng, jnp.shape(x)[0])

        def one(xi, k):
            kk = {} if k is None else {"key": k}
            if self.stateful:
                return model(xi, state, **kk, **kw)
            return model(xi, **kk, **kw), None

        if keys is None:
            return jax.vmap(lambda xi: one(xi, None), axis_name="batch", out_axes=(0, None))(x)
        return jax.vmap(one, axis_name="batch", out_axes=(0, None))(x, keys)

    def __repr__(self):
        return f"EqxApply({type(self.static.tree).__name__})"


def equinox_module(model, params, state, train_arg, who) -> Network:
    """An equinox module (see `network`)."""
    eqx = require("equinox", who)
    if isinstance(params, eqx.nn.State) and state is None:
        params, state = None, params
    is_index = lambda v: isinstance(v, eqx.nn.StateIndex)  # noqa: E731
    own, static = eqx.partition(model, eqx.is_inexact_array, is_leaf=is_index)
    nodes = jax.tree_util.tree_leaves(model, is_leaf=lambda v: isinstance(v, (eqx.nn.StateIndex, eqx.nn.Dropout)))
    has_index = any(is_index(v) for v in nodes)
    has_dropout = any(isinstance(v, eqx.nn.Dropout) for v in nodes)
    if has_index and state is None:
        raise ArgumentError(f"{who}: the equinox module {type(model).__name__} has state (BatchNorm); pass its "
                            f"`eqx.nn.State` (from eqx.nn.make_with_state) as `state=`.")
    if state is not None and not isinstance(state, eqx.nn.State):
        raise bad_type(who, "state", "an eqx.nn.State", state)
    if state is not None and not has_index:
        raise ArgumentError(f"{who} argument `state` is given but the equinox module {type(model).__name__} "
                            f"has no state (no BatchNorm).")
    if state is not None:  # our own State object: equinox invalidates one that was updated
        leaves, treedef = jax.tree_util.tree_flatten(state)
        state = jax.tree_util.tree_unflatten(treedef, leaves)
    if params is not None:
        check_fits(who, "params", params, own, f"the arrays of the equinox module {type(model).__name__}")
        own = params
    return Network(EqxApply(TreeKey(static), has_index), own, state, "equinox", has_index, has_index or has_dropout)


ADAPTERS = {"linen": linen, "nnx": nnx_module, "equinox": equinox_module}
