"""Argument canonicalisation for the kernel functions, and the choice of algorithm.

Every public kernel function starts by turning its arguments into a `Plan`: host arrays of
inputs (row blocks are sliced on the host), the network's static and array keyword arguments
split apart (static ones key the compiled functions), the mode of jaxgan MLPs with BatchNorm
or dropout made explicit, and the output checked to be one floating scalar per input — all
before anything is compiled.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import nets as _nets
from .. import networks as _networks
from ..networks import dense as _dense
from ..networks.network import BoundApply, framework_of
from .._checks import bad_type, check_bool, check_callable, check_choice, check_float, check_int, check_memory, check_numbers
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["ALGORITHMS", "DEFAULT_MEMORY_BUDGET"]

ALGORITHMS = ("auto", "structured", "jacobian", "kvp", "jacfwd")
DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes
HIGHEST = jax.lax.Precision.HIGHEST


def mm(a, b):
    """`a @ b` at `Precision.HIGHEST` (a float32 kernel must not lose digits to TF32/bf16 passes)."""
    return jnp.matmul(a, b, precision=HIGHEST)


class Static:
    """Hashable holder for a static callable: value equality when hashable, else identity."""

    __slots__ = ("obj", "_key")

    def __init__(self, obj):
        self.obj = obj
        try:
            hash(obj)
            self._key = ("v", obj)
        except TypeError:
            self._key = ("id", id(obj))

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        if not isinstance(other, Static):
            return False
        if self._key[0] == "id" or other._key[0] == "id":
            return self.obj is other.obj
        return self.obj is other.obj or self.obj == other.obj


class Plan(NamedTuple):
    """The canonical arguments of one kernel computation."""

    fn: Static
    spec: Any  # nets.MLPSpec or None
    skw: tuple  # static keyword arguments of apply_fn, sorted (name, value) pairs
    dkw: dict  # array-valued keyword arguments, passed unchanged
    x1: np.ndarray  # host arrays: blocks are sliced on the host
    x2: np.ndarray | None
    ex1: dict  # per-example keyword arguments of x1 (leading axis n1)
    ex2: dict
    coupled: bool  # outputs depend on the whole batch (BatchNorm in train mode)
    dtype: Any
    n_params: int
    params: Any = None  # the trainable pytree that `fn` takes (what the kernel differentiates)
    mlp_params: Any = None  # with `spec`: the parameters in jaxgan's MLP layout (structured path)
    mode: bool = False  # train mode (BatchNorm statistics of the batch, dropout on)
    network: Any = None  # the `networks.Network` behind `fn` (None for jaxgan MLPs and plain functions)


# ============================================================================ scalar arguments


def check_algorithm(algorithm, who: str) -> str:
    """One of `ALGORITHMS`."""
    return check_choice(who, "algorithm", algorithm, ALGORITHMS)


def check_batch_size(batch_size, who: str) -> int | None:
    """`None` (sized to the memory budget) or an int ≥ 1."""
    return None if batch_size is None else check_int(who, "batch_size", batch_size, lo=1)


def check_budget(budget, who: str) -> int:
    """A positive, finite number of bytes, as an int, within the machine's memory (a budget
    beyond it would size blocks that cannot be allocated)."""
    budget = max(1, int(check_float(who, "memory_budget", budget, sign="positive", dtype=np.float64)))
    check_memory(who, f"argument `memory_budget` ({budget} bytes)", budget, "pass a smaller `memory_budget`")
    return budget


# ============================================================================ inputs


def _is_arraylike(v) -> bool:
    return isinstance(v, (jax.Array, np.ndarray)) or (hasattr(v, "shape") and hasattr(v, "dtype"))


def _split_kwargs(kw: dict, who: str):
    """`(static, dynamic)`: hashable keyword arguments as sorted pairs, array-valued ones as a dict."""
    static, dynamic = [], {}
    for k, v in kw.items():
        if any(_is_arraylike(leaf) for leaf in jax.tree_util.tree_leaves(v)):
            dynamic[k] = v
        else:
            try:
                hash(v)
            except TypeError:
                raise bad_type(who, f"apply_kwargs[{k!r}]", "hashable or a pytree of arrays", v) from None
            static.append((k, v))
    return tuple(sorted(static, key=lambda kv: kv[0])), dynamic


def _host_points(x, name: str, who: str, traceable: bool):
    """`x` as a numeric host array (a tracer kept as it is with `traceable`)."""
    if x is None:
        raise ArgumentTypeError(f"{who} argument `{name}` must be an array of inputs; got None.")
    try:
        arr = x if (traceable and isinstance(x, jax.core.Tracer)) else np.asarray(x)
    except jax.errors.TracerArrayConversionError:
        raise ArgumentTypeError(f"{who} runs a blocked loop on the host and cannot be traced (jit/vmap/grad); "
                                f"pass concrete arrays as `{name}` (use kernel_vp inside jit).") from None
    except (TypeError, ValueError):
        raise bad_type(who, name, "an array of inputs", x) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ArgumentTypeError(f"{who} argument `{name}` must be a numeric array; got dtype {arr.dtype}.")
    return arr


def _mlp_points(arr, name: str, who: str, spec):
    """An MLP's inputs as `(n, d_in)` (a 1-D array is `(n, 1)` when `d_in == 1`)."""
    d = spec.sizes[0]
    if arr.ndim not in (1, 2) or (arr.ndim == 1 and d != 1):
        want = f"(n, {d})" + (" or (n,)" if d == 1 else "")
        raise ArgumentError(f"{who} argument `{name}` must have shape {want} for the MLP {spec.sizes}; "
                            f"got shape {tuple(arr.shape)} (rank {arr.ndim}).")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[1] != d:
        raise ArgumentError(f"{who} argument `{name}` must have {d} features (shape (n, {d})) for the MLP "
                            f"{spec.sizes}; got shape {tuple(arr.shape)}.")
    return arr


def as_points(x, name: str, who: str, spec, traceable: bool = False):
    """Inputs as a host array `(n, ...)` (row blocks are sliced on the host: no compiled gathers);
    with `traceable`, a traced value is kept as it is."""
    arr = _host_points(x, name, who, traceable)
    if spec is not None:
        arr = _mlp_points(arr, name, who, spec)
    elif arr.ndim < 1:
        raise ArgumentError(f"{who} argument `{name}` must have a leading axis of examples, shape (n, ...); "
                            f"got a scalar.")
    if arr.shape[0] < 1:
        raise ArgumentError(f"{who} argument `{name}` must hold at least one input; got shape {tuple(arr.shape)}.")
    if not np.issubdtype(arr.dtype, np.inexact):
        arr = arr.astype(jnp.result_type(float))
    if not isinstance(arr, jax.core.Tracer):
        # Inputs far beyond the working float overflow inside the network: a kernel of infs and NaNs.
        check_numbers(who, name, arr, dtype=jnp.result_type(float), underflow=False)
    return arr


def _example_kwargs(kw, n: int, name: str, who: str, traceable: bool = False) -> dict:
    """Per-example keyword arguments: a dict whose leaves all have a leading axis of `n`."""
    if kw is None:
        return {}
    if not isinstance(kw, dict):
        raise bad_type(who, name, "a dict of per-example keyword arguments", kw)
    for k, v in kw.items():
        for leaf in jax.tree_util.tree_leaves(v):
            shape = jnp.shape(leaf)
            if len(shape) < 1 or shape[0] != n:
                raise ArgumentError(f"{who} argument `{name}[{k!r}]` must have a leading axis of {n} (one entry "
                                    f"per input); got a leaf of shape {shape}.")
    conv = (lambda a: a if isinstance(a, jax.core.Tracer) else np.asarray(a)) if traceable else np.asarray
    try:
        return {k: jax.tree_util.tree_map(conv, v) for k, v in kw.items()}
    except jax.errors.TracerArrayConversionError:
        raise ArgumentTypeError(f"{who} cannot be traced (jit/vmap/grad); pass concrete arrays in `{name}`.") from None


def _count_params(params, who: str) -> int:
    """The number of parameters of a pytree of floating arrays."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ArgumentError(f"{who} argument `params` has no array leaves; nothing to differentiate.")
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not (_is_arraylike(leaf) and jnp.issubdtype(jnp.result_type(leaf), jnp.floating)):
            raise ArgumentTypeError(
                f"{who} argument `params` must be a pytree of floating arrays; leaf {jax.tree_util.keystr(path)} "
                f"is {type(leaf).__name__} of dtype {getattr(leaf, 'dtype', None)} (for equinox modules, pass "
                f"the array part from eqx.partition and close over the rest)."
            )
    return int(sum(math.prod(jnp.shape(leaf)) for leaf in leaves))


# ============================================================================ the network's mode


def _mlp_mode(who, spec, params, train, kw, ex1, has_x2, batch_coupled, names):
    """`(apply kwargs, coupled)` of a jaxgan MLP: its mode is explicit (`train=`), its only
    per-example argument is a dropout mask, used in train mode only."""
    n1_name, n2_name = names
    _nets.check_params(spec, params)
    if kw:
        raise ArgumentError(f"{who}: a jaxgan MLP takes its mode through `train=` and its dropout masks through "
                            f"`{n1_name}_kwargs={{'mask': ...}}`; `apply_kwargs` must be empty, got {sorted(kw)}.")
    if train is None and (spec.batchnorm or spec.dropout > 0):
        raise ArgumentError(
            f"{who}: the MLP {spec.sizes} has " + ("BatchNorm" if spec.batchnorm else "dropout")
            + "; choose `train=False` (eval mode: running statistics, no dropout — a kernel K(x, y)) or "
            "`train=True` (batch statistics: an operator on the batch, the full-batch Jacobian product"
            + ("; dropout then needs a fixed per-example mask" if spec.dropout > 0 else "") + ")."
        )
    train = bool(train)
    extra = set(ex1) - {"mask"}
    if extra:
        raise ArgumentError(f"{who}: a jaxgan MLP takes only `mask` per example; got {sorted(extra)}.")
    if train and spec.dropout > 0 and "mask" not in ex1:
        raise ArgumentError(f"{who}: dropout in train mode needs a fixed per-example mask: pass "
                            f"`{n1_name}_kwargs={{'mask': jaxgan.nets.dropout_masks(apply, key, n)}}`"
                            + (f" (and `{n2_name}_kwargs`)" if has_x2 else "") + ".")
    if not (train and spec.dropout > 0) and ex1:
        raise ArgumentError(f"{who}: a dropout mask is used only in train mode with dropout > 0; remove "
                            f"`{n1_name}_kwargs`.")
    coupled = train and spec.batchnorm
    if batch_coupled is not None and bool(batch_coupled) != coupled:
        raise ArgumentError(f"{who} argument `batch_coupled={batch_coupled}` contradicts the MLP: with "
                            f"train={train} and batchnorm={spec.batchnorm} it is {coupled}; leave it None.")
    return {"train": train}, coupled


def _output_dtype(who, fn, skw, dkw, params, x, ex, name, coupled, broad=False):
    """The dtype of `apply_fn`'s output, after checking it is one floating scalar per input
    (abstract evaluation on one or two inputs, or the whole batch when coupled: nothing is compiled).
    `broad`: any exception of the model (a flax or equinox module) is reported as bad input."""
    m = x.shape[0] if coupled else min(2, x.shape[0])
    catch = Exception if broad else (ValueError, TypeError)
    try:
        out = jax.eval_shape(lambda p, xx, e: raw_call(fn, skw, p, xx, dkw, e), params, x[:m],
                             jax.tree_util.tree_map(lambda a: a[:m], ex))
    except catch as exc:
        kind = ArgumentTypeError if isinstance(exc, TypeError) else ArgumentError
        if not broad:
            raise kind(f"{who}: apply_fn(params, {name}) failed: {exc}") from exc
        raise kind(f"{who}: the model failed on `params` and `{name}` (do they fit the model?): "
                   f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if not hasattr(out, "shape") or out.shape not in ((m,), (m, 1)):
        raise ArgumentError(f"{who} argument `apply_fn` must return one scalar per input, shape ({m},) or "
                            f"({m}, 1) for {m} inputs; got {getattr(out, 'shape', type(out).__name__)}.")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ArgumentTypeError(f"{who} argument `apply_fn` must return floating values; got dtype {out.dtype}.")
    return out.dtype


# ============================================================================ the plan


def _inputs(who, x1, x2, x1_kwargs, x2_kwargs, spec, names, traceable):
    """`(x1, x2, ex1, ex2)` checked: host arrays with the same feature shape, per-example kwargs."""
    n1_name, n2_name = names
    x1 = as_points(x1, n1_name, who, spec, traceable)
    x2 = None if x2 is None else as_points(x2, n2_name, who, spec, traceable)
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ArgumentError(f"{who}: `{n1_name}` and `{n2_name}` must have the same feature shape; got "
                            f"{tuple(x1.shape[1:])} and {tuple(x2.shape[1:])}.")
    ex1 = _example_kwargs(x1_kwargs, x1.shape[0], f"{n1_name}_kwargs", who, traceable)
    ex2 = {}
    if x2 is None and x2_kwargs is not None:
        raise ArgumentError(f"{who} argument `{n2_name}_kwargs` given without `{n2_name}`.")
    if x2 is not None:
        ex2 = _example_kwargs(x2_kwargs, x2.shape[0], f"{n2_name}_kwargs", who, traceable)
        if set(ex1) != set(ex2):
            raise ArgumentError(f"{who}: `{n1_name}_kwargs` and `{n2_name}_kwargs` must name the same "
                                f"per-example arguments; got {sorted(ex1)} and {sorted(ex2)}.")
    return x1, x2, ex1, ex2


def _is_network(model) -> bool:
    """A `networks.Network` (other than a jaxgan MLP's) or a flax/equinox module."""
    return (isinstance(model, _networks.Network) and model.kind != "jaxgan") or framework_of(model) is not None


def make_plan(who, apply_fn, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled,
              names=("x1", "x2"), traceable=False, rng=None, recognise=True) -> Plan:
    """Check and canonicalise the arguments of a kernel function (see `Plan`); `names` are the
    public names of `x1`, `x2` in messages, `traceable` lets traced inputs through (`kernel_vp`).

    `apply_fn` is any network `jaxgan.networks.network` accepts (`params` may be `None` for models
    that carry their own); flax and equinox models and `Network`s become `plan.fn`, a plain
    `apply(params, x, **kw)` on the trainable pytree `plan.params` with the state, mode and rng
    closed over (hashable: the same model keys the same compiled code), and dense stacks among
    them are recognised (`plan.spec`, `plan.mlp_params`) when `recognise`. `rng`: the PRNG key of
    dropout in train mode."""
    if isinstance(apply_fn, _networks.Network) and apply_fn.kind == "jaxgan":  # back to the MLP itself
        apply_fn, params = apply_fn.apply_fn.mlp, apply_fn.params if params is None else params
    if x1 is None and _is_arraylike(params):
        raise ArgumentError(f"{who} argument `{names[0]}` is missing and `params` is an array: for models that carry "
                            f"their own parameters (flax.nnx, equinox, a Network) pass `params=None`, e.g. "
                            f"{who}(model, None, {names[0]}).")
    if _is_network(apply_fn):
        return _network_plan(who, apply_fn, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs,
                             batch_coupled, names, traceable, rng, recognise)
    check_callable(who, "apply_fn", apply_fn, "callable as apply_fn(params, x)")
    if params is None:
        raise ArgumentError(f"{who} argument `params` must be given for a plain apply_fn(params, x) (only flax.nnx "
                            f"and equinox modules and jaxgan.networks.Network carry their own); got None.")
    n_params = _count_params(params, who)
    spec = _nets.spec_of(apply_fn)
    x1, x2, ex1, ex2 = _inputs(who, x1, x2, x1_kwargs, x2_kwargs, spec, names, traceable)
    if apply_kwargs is not None and not isinstance(apply_kwargs, dict):
        raise bad_type(who, "apply_kwargs", "a dict", apply_kwargs)
    kw = dict(apply_kwargs or {})
    if train is not None:
        train = check_bool(who, "train", train)
    if rng is not None:
        raise ArgumentError(f"{who} argument `rng` is for flax and equinox models with dropout; a jaxgan MLP takes "
                            f"fixed masks (`{names[0]}_kwargs={{'mask': ...}}`), a plain apply_fn its own kwargs.")
    if spec is not None:
        kw, coupled = _mlp_mode(who, spec, params, train, kw, ex1, x2 is not None, batch_coupled, names)
    else:
        if train is not None:
            kw["train"] = train
        coupled = bool(batch_coupled) if batch_coupled is not None else False
    skw, dkw = _split_kwargs(kw, who)
    fn = Static(apply_fn)
    dtype = None
    for x, ex, name in ((x1, ex1, names[0]), (x2, ex2, names[1])):
        if x is not None:
            dtype = _output_dtype(who, fn, skw, dkw, params, x, ex, name, coupled)
    return Plan(fn, spec, skw, dkw, x1, x2, ex1, ex2, coupled, dtype, n_params, params=params,
                mlp_params=params if spec is not None else None, mode=bool(train), network=None)


def _network_mode(who, net, x1, train, rng, batch_coupled):
    """`(train, stochastic, coupled, rng)` of a flax/equinox `Network`: the mode is explicit for
    BatchNorm or dropout; dropout in train mode draws one mask for the whole batch from `rng`."""
    random = net.has_mode and (bool(train) or (train is None and not net.batchnorm)) and _dense.uses_rng(net, x1[:2])
    if train is None and net.has_mode and (net.batchnorm or random):
        raise ArgumentError(
            f"{who}: the {net.kind} model has " + ("BatchNorm" if net.batchnorm else "dropout")
            + "; choose `train=False` (eval mode: running statistics, no dropout — a kernel K(x, y)) or "
            "`train=True` (" + ("batch statistics: an operator on the batch, the full-batch Jacobian product"
                                if net.batchnorm else "dropout masks drawn from `rng=` for the whole batch") + ").")
    train = bool(train)
    stochastic = train and random
    if rng is not None:
        rng = _nets._check_key(rng, who)
    if stochastic and rng is None and net.kind != "nnx":
        raise ArgumentError(f"{who}: the {net.kind} model has dropout; in train mode pass `rng=` (a PRNG key: one "
                            f"draw of the masks for the whole batch), or use train=False.")
    coupled = train and (net.batchnorm or stochastic)
    if batch_coupled is not None and bool(batch_coupled) != coupled:
        raise ArgumentError(f"{who} argument `batch_coupled={batch_coupled}` contradicts the model: with train={train} "
                            f"it is {coupled}; leave it None.")
    return train, stochastic, coupled, rng


def _network_plan(who, model, params, x1, x2, train, apply_kwargs, x1_kwargs, x2_kwargs, batch_coupled, names,
                  traceable, rng, recognise) -> Plan:
    """`make_plan` for a flax/equinox model or a `Network` (see there)."""
    net = _networks.network(model, params, who=who)
    n_params = _count_params(net.params, who)
    x1, x2, ex1, ex2 = _inputs(who, x1, x2, x1_kwargs, x2_kwargs, None, names, traceable)
    if ex1 and net.kind == "equinox":
        raise ArgumentError(f"{who}: an equinox model is applied per example; per-example `{names[0]}_kwargs` are "
                            f"not supported (fold them into the model or the inputs).")
    if apply_kwargs is not None and not isinstance(apply_kwargs, dict):
        raise bad_type(who, "apply_kwargs", "a dict", apply_kwargs)
    if train is not None:
        train = check_bool(who, "train", train)
    concrete = not isinstance(x1, jax.core.Tracer) and not (x2 is not None and isinstance(x2, jax.core.Tracer))
    if net.kind == "linen":
        from ..networks.frameworks import check_linen_fits

        check_linen_fits(net, x1[:1], who)
    train, stochastic, coupled, rng = _network_mode(who, net, x1, train, rng, batch_coupled)
    skw, dkw = _split_kwargs(dict(apply_kwargs or {}), who)
    plain_call = not (skw or dkw or ex1)  # the model on its own (recognition compares just that)
    if net.state is not None:
        dkw["network_state"] = net.state
    if stochastic and rng is not None:
        dkw["network_rng"] = rng
    fn = Static(BoundApply(net.apply_fn, train))
    dtype = None
    for x, ex, name in ((x1, ex1, names[0]), (x2, ex2, names[1])):
        if x is not None:
            dtype = _output_dtype(who, fn, skw, dkw, net.params, x, ex, name, coupled, broad=True)
    rec = None
    if recognise and concrete and not stochastic and plain_call:
        rec = _dense.recognise_network(net, x1, train)
    spec = None if rec is None else rec.spec
    return Plan(fn, spec, skw, dkw, x1, x2, ex1, ex2, coupled, dtype, n_params, params=net.params,
                mlp_params=None if rec is None else rec.params, mode=train, network=net)


def choose_algorithm(plan: Plan, algorithm: str, who: str, *, params=None, budget: int = DEFAULT_MEMORY_BUDGET,
                     batch_size=None) -> str:
    """The algorithm `"auto"` stands for: `"structured"` for recognised dense stacks (`plan.spec`),
    else the cheapest exact path that fits `budget` (`"jacobian"` or `"kvp"`, by the cost model of
    `choice.py`; without `params`, `"jacobian"`). `"structured"` is refused for other networks."""
    if algorithm == "auto":
        if plan.spec is not None:
            return "structured"
        if params is None:
            return "jacobian"
        from .choice import choose  # choice.py builds on this module

        return choose(plan, params, budget, batch_size, who).algorithm
    if algorithm == "structured" and plan.spec is None:
        raise ArgumentError(f"{who} argument `algorithm='structured'` needs a recognised dense stack (the apply of "
                            f"a jaxgan.nets.mlp); got {plan.fn.obj!r}: use algorithm='auto', 'jacobian' or 'kvp' "
                            f"(any network).")
    return algorithm


# ============================================================================ evaluation


def raw_call(fn: Static, skw, params, x, dkw, ex):
    """`apply_fn(params, x, **static, **arrays, **per_example)`."""
    return fn.obj(params, x, **dict(skw), **dkw, **ex)


def call(fn: Static, skw, params, x, dkw, ex):
    """`raw_call` with the output as one scalar per input, shape `(n,)`."""
    out = raw_call(fn, skw, params, x, dkw, ex)
    return out.reshape(x.shape[0])
