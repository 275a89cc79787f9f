"""`Network`, the one protocol for "a network", and `network`, which turns what users pass into one.

A network is `apply(params, state, x, *, train, rng) -> (out, new_state)` with `out` one scalar
per input, `params` its trainable pytree and `state` its mutable state (BatchNorm statistics).
The adapters of flax.linen, flax.nnx and equinox live in `frameworks.py` (imported lazily: flax
and equinox are optional extras); this file holds the protocol, the plain and jaxgan adapters,
and the hashable keys that let a rebuilt `Network` of the same model reuse compiled code.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp

from .. import nets as _nets
from .._checks import bad_type, check_bool
from ..errors import ArgumentError

__all__ = ["Network", "network", "KINDS"]

KINDS = ("jaxgan", "plain", "linen", "nnx", "equinox")


# ============================================================================ hashable keys


class TreeKey:
    """A hashable stand-in for a pytree (a model's static part): its structure and its leaves,
    compared by value when hashable and by identity otherwise (arrays). It keeps the tree alive,
    so identities stay valid while the key is in a compile cache."""

    __slots__ = ("tree", "_key")

    def __init__(self, tree):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        keys = []
        for leaf in leaves:
            try:
                if isinstance(leaf, (jax.Array,)) or hasattr(leaf, "__array__"):
                    raise TypeError
                hash(leaf)
                keys.append(("v", leaf))
            except TypeError:
                keys.append(("id", id(leaf)))
        self.tree = tree
        self._key = (treedef, tuple(keys))

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, TreeKey) and (self.tree is other.tree or self._key == other._key)


def value_key(obj):
    """`obj` itself when it is hashable (compared by value), else a `TreeKey` of it."""
    try:
        hash(obj)
        return obj
    except TypeError:
        return TreeKey(obj)


# ============================================================================ the protocol


def _scalar_out(out, x):
    """`(n, 1)` outputs as `(n,)`; anything else unchanged (the kernel functions check it)."""
    shape = getattr(out, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 1 and shape[0] == jnp.shape(x)[0]:
        return out.reshape(shape[0])
    return out


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """A network in one protocol: `apply(params, state, x, *, train, rng) -> (out, new_state)`.

    - `apply_fn`: the adapter, a hashable callable `apply_fn(params, state, x, *, train, rng, **kw)`
      returning `(out, new_state)`; two `Network`s of the same model have equal `apply_fn`s, so a
      rebuilt `Network` reuses compiled code.
    - `params`: the trainable parameters, a pytree of floating arrays (what the kernel
      differentiates).
    - `state`: the mutable state (BatchNorm running statistics; `None` when there is none). In
      train mode `apply` returns it updated; in eval mode unchanged.
    - `kind`: where the network came from, one of `KINDS`: `"jaxgan"` (`jaxgan.nets.mlp`),
      `"plain"` (an `apply(params, x)` callable), `"linen"`, `"nnx"`, `"equinox"`.
    - `batchnorm`: the network has batch statistics (`train=` changes it and, in train mode,
      couples the outputs of a batch).
    - `has_mode`: `train=` changes the network (BatchNorm or dropout); `False` when the mode is
      ignored.

    A `Network` is a pytree (children `params`, `state`), so it passes through `jit`.

    **Example:**

    ```python
    net = jaxgan.networks.network(flax_module, variables)      # {"params", "batch_stats"}
    out, new_state = net.apply(net.params, net.state, x, train=False)
    ```
    """

    apply_fn: Callable
    params: Any
    state: Any = None
    kind: str = "plain"
    batchnorm: bool = False
    has_mode: bool = False

    def apply(self, params, state, x, *, train: bool = False, rng=None, **kwargs):
        """`(out, new_state)`: `out` is `Float[Array, "n"]` for a batch `x` of `n` inputs (an
        `(n, 1)` output is flattened); `rng` is the PRNG key of dropout in train mode."""
        out, new_state = self.apply_fn(params, state, x, train=train, rng=rng, **kwargs)
        return _scalar_out(out, x), new_state

    def __call__(self, x, *, train: bool = False, rng=None, **kwargs):
        """The outputs at the network's own parameters and state: `apply(...)[0]`."""
        return self.apply(self.params, self.state, x, train=train, rng=rng, **kwargs)[0]

    def tree_flatten(self):
        return (self.params, self.state), (self.apply_fn, self.kind, self.batchnorm, self.has_mode)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux[0], children[0], children[1], *aux[1:])

    def __repr__(self):
        n = sum(int(jnp.size(leaf)) for leaf in jax.tree_util.tree_leaves(self.params))
        extra = ", batchnorm" if self.batchnorm else ""
        return f"Network({self.kind}, {n} parameters{extra}, apply={self.apply_fn!r})"


# ============================================================================ plain and jaxgan adapters


@dataclasses.dataclass(frozen=True)
class PlainApply:
    """Adapter of a plain `fn(params, x, **kw)`: no state, no mode."""

    fn: Any  # the callable, or a TreeKey-free hashable wrapper of it

    def __call__(self, params, state, x, *, train=False, rng=None, **kw):
        return self.fn(params, x, **kw), state

    def __repr__(self):
        return f"PlainApply({getattr(self.fn, '__name__', type(self.fn).__name__)})"


@dataclasses.dataclass(frozen=True)
class MLPAdapter:
    """Adapter of a jaxgan MLP (`nets.MLPApply`): its running statistics stay inside `params`
    (read through `stop_gradient`, never updated here); `rng` draws dropout masks in train mode."""

    mlp: _nets.MLPApply

    def __call__(self, params, state, x, *, train=False, rng=None, **kw):
        return self.mlp(params, x, train=train, key=rng, **kw), state


@dataclasses.dataclass(frozen=True)
class BoundApply:
    """A `Network`'s adapter as a plain `apply(params, x, **kw)` in one mode: the state and the
    rng arrive as the keyword arguments `network_state`, `network_rng` (traced, never keys of
    compiled code); equal for equal adapters and modes."""

    apply_fn: Any
    train: bool

    def __call__(self, params, x, *, network_state=None, network_rng=None, **kw):
        out, _ = self.apply_fn(params, network_state, x, train=self.train, rng=network_rng, **kw)
        return _scalar_out(out, x)


def framework_of(model) -> str | None:
    """`"linen"`, `"nnx"`, `"equinox"` for a module of those libraries, else `None` (without
    importing them: a module of a library that was never imported cannot be one of its modules)."""
    if isinstance(model, Network):
        return None
    if "flax" in sys.modules:
        from flax import linen, nnx

        if isinstance(model, linen.Module):
            return "linen"
        if isinstance(model, nnx.Module):
            return "nnx"
    if "equinox" in sys.modules:
        import equinox as eqx

        if isinstance(model, eqx.Module) and not isinstance(model, jax.tree_util.Partial):
            return "equinox"
    return None


def network(model, params=None, *, state=None, train_arg: str | None = "auto", who: str = "network") -> Network:
    """Turn what users naturally pass into a `Network`, once.

    **Arguments:**

    - `model`: one of
      - a `Network` (returned as it is; `params`/`state` given here replace its own);
      - a jaxgan MLP `apply` (`jaxgan.nets.mlp`), with its `params`;
      - a plain `apply(params, x) -> Float[Array, "n"]`, with its `params`;
      - a `flax.linen.Module`, with its variables `{"params": ..., "batch_stats": ...}` (or the
        `params` collection alone): `params` is trainable, `batch_stats` is the state; any other
        collection is refused. The mode reaches the module through the keyword of its `__call__`
        named by `train_arg` (default: found in the signature among `train`, `training`,
        `is_training`, `deterministic`, `use_running_average`, `eval`, `inference`; the last four
        mean "not train"); dropout draws from the `"dropout"` rng stream;
      - a `flax.nnx.Module` (`params=None`, or a `State` of its `nnx.Param`s to use instead): its
        `nnx.Param`s are trainable, `nnx.BatchStat`s the state, its rng streams are carried as
        they are (dropout masks come from them); train/eval through the module's own switches
        (`.train()`/`.eval()` on a copy, the model is never changed);
      - an `equinox.Module` (`params=None`, or the array part of `eqx.partition(model,
        eqx.is_inexact_array)`): per-example, so it is `vmap`ped (with `axis_name="batch"` for
        BatchNorm); pass an `eqx.nn.State` as `state=` (or as `params`) for BatchNorm; eval mode is
        `eqx.nn.inference_mode`; dropout in train mode takes one key per example split from `rng`.
    - `params`: the parameters (see above; `None` for models that carry their own).
    - `state`: the mutable state for equinox models (`eqx.nn.State`).
    - `train_arg`: flax.linen only: the keyword of the module's `__call__` that sets its mode
      (`None`: the module has none).

    **Returns:** a `Network`.

    **Raises:** `ArgumentTypeError` for something that is not a network; `ArgumentError` for
    params missing or not fitting the model, an unknown mutable collection (naming it);
    `jaxgan.errors.MissingExtraError` (an ImportError) naming the extra to install when a model's
    library cannot be imported.
    """
    if isinstance(model, Network):
        if params is None and state is None:
            return model
        return dataclasses.replace(model, params=model.params if params is None else params,
                                   state=model.state if state is None else state)
    kind = framework_of(model)
    if kind is not None:
        from . import frameworks

        return frameworks.ADAPTERS[kind](model, params, state, train_arg, who)
    if isinstance(model, _nets.MLPApply):
        _need_params(who, params, "a jaxgan MLP")
        _no_state(who, state, "a jaxgan MLP (its running statistics are in params['batch_stats'])")
        spec = model.spec
        return Network(MLPAdapter(model), params, None, "jaxgan", spec.batchnorm,
                       spec.batchnorm or spec.dropout > 0)
    if not callable(model):
        raise bad_type(who, "model", "a network (a jaxgan MLP apply, a plain apply(params, x), a flax or equinox "
                       "module, or a jaxgan.networks.Network)", model)
    _need_params(who, params, "a plain apply(params, x)")
    _no_state(who, state, "a plain apply(params, x)")
    return Network(PlainApply(model), params, None, "plain", False, False)


def _need_params(who, params, what):
    if params is None:
        raise ArgumentError(f"{who} argument `params` must be given for {what}; got None.")


def _no_state(who, state, what):
    if state is not None:
        raise ArgumentError(f"{who} argument `state` is for equinox models; {what} takes none.")


def check_train(who: str, train) -> bool | None:
    """`None` or a bool."""
    return None if train is None else check_bool(who, "train", train)
