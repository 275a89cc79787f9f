"""The players of a GAN: one protocol for the discriminator and the generator, whatever they are.

A `Player` initialises one seed's parameters on the host and evaluates the network in train or
eval mode inside the compiled training:

    theta, stats = player.init(key)
    out, new_stats = player.call(theta, stats, x, train=True, key=dropout_key, update_stats=True)

`theta` is the trainable pytree (what the optimiser and the game field see), `stats` the mutable
state (BatchNorm's running statistics; `None` without). `player_of` canonicalises what users
pass, once: a jaxgan `Net` spec (`NetPlayer`, jaxgan's own MLPs), a `flax.linen.Module` without
variables (initialised per seed by `module.init`), or a factory `key -> model` / `key ->
(model, params)` of anything `jaxgan.networks.network` accepts (flax.nnx, equinox, plain
`apply(params, x)`) — both `NetworkPlayer`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import nets as _nets
from .._checks import bad_type
from ..errors import ArgumentTypeError
from ..errors import ArgumentError
from ..networks import network as _network
from ..networks.network import Network, framework_of, value_key

__all__ = ["Net", "Player", "NetPlayer", "NetworkPlayer", "player_of"]


# ============================================================================ jaxgan MLP specs


@dataclasses.dataclass(frozen=True)
class Net:
    """An MLP spec for `GAN` (built with `jaxgan.nets.mlp`).

    **Arguments:** `hidden`: hidden widths (each ≥ 1; `()` gives an affine map); `activation`:
    `"relu"`, `"leaky_relu"` or `"tanh"`; `batchnorm`: BatchNorm after each hidden layer;
    `dropout`: drop probability in [0, 1) after each hidden activation.

    **Raises:** `ArgumentError`/`ArgumentTypeError` naming the argument (unknown activation,
    widths < 1, BatchNorm or dropout without a hidden layer, dropout outside [0, 1)).
    """

    hidden: tuple = (32, 32)
    activation: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise bad_type("Net", "hidden", "a sequence of widths", self.hidden)
        for h in hidden:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)):
                raise ArgumentTypeError(f"Net argument `hidden` must hold ints; got {list(hidden)!r}.")
            if h < 1:
                raise ArgumentError(f"Net argument `hidden` must hold widths ≥ 1; got {list(hidden)!r}.")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        # nets.mlp validates activation, batchnorm, dropout (and refuses them without a hidden layer)
        # and knows the activation's canonical name.
        _, apply = _nets.mlp((1, *self.hidden, 1), self.activation, self.batchnorm, self.dropout)
        object.__setattr__(self, "activation", apply.spec.activation)
        object.__setattr__(self, "dropout", float(apply.spec.dropout))

    def build(self, d_in: int, d_out: int):
        """`(init, apply)` from `jaxgan.nets.mlp((d_in, *hidden, d_out), ...)`."""
        return _nets.mlp((d_in, *self.hidden, d_out), self.activation, self.batchnorm, self.dropout)

    def label(self) -> str:
        """A short name: the activation and its extras (`"relu+BN"`, `"tanh+drop0.2"`), or `"linear"`."""
        if not self.hidden:
            return "linear"
        extra = ("+BN" if self.batchnorm else "") + (f"+drop{self.dropout:g}" if self.dropout else "")
        return f"{self.activation}{extra}"


@functools.lru_cache(maxsize=64)
def built(net: Net, d_in: int, d_out: int):
    """`net.build(d_in, d_out)`, once per spec."""
    return net.build(d_in, d_out)




class Player:
    """The protocol (see the module docstring). Subclasses are frozen and hashable: two players of
    the same structure are equal, so a GAN rebuilt from them reuses its compiled program. Each has
    `batchnorm` (train mode couples a batch through its statistics) and `dropout` (train mode needs a
    random key)."""

    def init(self, key):  # pragma: no cover - protocol
        raise NotImplementedError

    def call(self, theta, stats, x, *, train: bool, key=None, update_stats: bool = False):  # pragma: no cover
        raise NotImplementedError

    def label(self) -> str:  # pragma: no cover - protocol
        raise NotImplementedError


# ============================================================================ jaxgan MLPs


def split_params(params):
    """(trainable θ, running statistics or None) of a nets MLP's params dict."""
    theta = {k: v for k, v in params.items() if k != "batch_stats"}
    return theta, params.get("batch_stats")


def merge_params(theta, stats):
    """The params dict of a nets MLP from its trainable part and its running statistics (or None)."""
    return theta if stats is None else {**theta, "batch_stats": stats}


@dataclasses.dataclass(frozen=True)
class NetPlayer(Player):
    """A jaxgan MLP (`Net`) from `d_in` flat inputs to `d_out` flat outputs."""

    net: Net
    d_in: int
    d_out: int

    @property
    def batchnorm(self) -> bool:
        return self.net.batchnorm

    @property
    def dropout(self) -> bool:
        return self.net.dropout > 0

    def init(self, key):
        return split_params(built(self.net, self.d_in, self.d_out)[0](key))

    def call(self, theta, stats, x, *, train: bool, key=None, update_stats: bool = False):
        apply = built(self.net, self.d_in, self.d_out)[1]
        params = merge_params(theta, stats)
        x = x.reshape(x.shape[0], self.d_in)
        kw = {"key": key} if (train and self.dropout) else {}
        if update_stats and train and self.batchnorm:
            out, new = apply(params, x, train=True, update_stats=True, **kw)
            return out, new["batch_stats"]
        return apply(params, x, train=train, **kw), stats

    def label(self) -> str:
        return self.net.label()

    def n_params(self) -> tuple[int, int]:
        """`(trainable, running statistics)` counts from the sizes (nothing built)."""
        sizes = (self.d_in, *self.net.hidden, self.d_out)
        dense = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        bn = 2 * sum(self.net.hidden) if self.net.batchnorm else 0
        return dense + bn, bn


# ============================================================================ any network


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkPlayer(Player):
    """Any network (`jaxgan.networks.Network`) with a per-seed initialiser.

    - `make`: `key -> Network` (built from a linen module's `init`, or from a user's factory);
    - `apply_fn`: the network's adapter (equal for networks of the same model), what is compiled;
    - `in_shape`, `out_shape`: one input's and one output's shape (`()` for the discriminator's scalar);
    - `theta_def`, `stats_def`: the structures and shapes of the parameters and state (compile key);
    - `name`: a short label.
    """

    make: Callable
    apply_fn: Any
    in_shape: tuple
    out_shape: tuple
    theta_def: Any
    stats_def: Any
    batchnorm: bool
    dropout: bool
    name: str

    def _key(self):
        return (value_key(self.apply_fn), self.in_shape, self.out_shape, self.theta_def, self.stats_def)

    def __eq__(self, other):
        return isinstance(other, NetworkPlayer) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def init(self, key):
        net = self.make(key)
        return net.params, net.state

    def call(self, theta, stats, x, *, train: bool, key=None, update_stats: bool = False):
        x = x.reshape((x.shape[0], *self.in_shape))
        out, new = self.apply_fn(theta, stats, x, train=train, rng=key if (train and self.dropout) else None)
        out = out.reshape((x.shape[0], *self.out_shape)) if self.out_shape else out.reshape(x.shape[0])
        return out, (new if (update_stats and train) else stats)

    def label(self) -> str:
        return self.name


def _structure(tree):
    """The structure and leaf shapes/dtypes of a pytree, hashable."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(leaf)), str(np.dtype(leaf.dtype))) for leaf in leaves)


def _linen_maker(module, example, who: str):
    from ..networks import frameworks

    mode_arg = frameworks._linen_mode_arg(module, "auto", who)
    kw = {} if mode_arg is None else {mode_arg: mode_arg in frameworks._NEGATED}

    def init(key):
        k_params, k_drop = jax.random.split(key)
        return module.init({"params": k_params, "dropout": k_drop}, example, **kw)

    init_jit = jax.jit(init)

    def make(key):
        return _network(module, dict(init_jit(key)), who=who)

    def make_abstract(key):  # shapes only (abstract evaluation): the checks compile nothing
        return _network(module, dict(jax.eval_shape(init, key)), who=who)

    return make, make_abstract


def _factory_maker(factory, who: str):
    def make(key):
        built_ = factory(key)
        if isinstance(built_, tuple) and len(built_) == 2 and not isinstance(built_, Network):
            return _network(built_[0], built_[1], who=who)
        return _network(built_, who=who)

    return make


def player_of(spec, in_shape: tuple, out_shape: tuple, *, who: str, arg: str) -> Player:
    """Canonicalise a discriminator or generator spec into a `Player` (see the module docstring).

    **Arguments:** `spec`: a `Net`, a `Player`, a `flax.linen.Module` (no variables) or a factory
    `key -> model` / `key -> (model, params)`; `in_shape`, `out_shape`: one input's and one
    output's shape (`out_shape = ()` for the discriminator); `who`, `arg`: named in errors.

    **Returns:** a `Player`.

    **Raises:** `ArgumentTypeError` for something that is not a network spec; `ArgumentError` when
    the network cannot take inputs of `in_shape` or its outputs do not reshape to `out_shape` per
    sample (checked by abstract evaluation: nothing is compiled).
    """
    if isinstance(spec, Player):
        return spec
    d_in, d_out = math.prod(in_shape), max(1, math.prod(out_shape))
    if isinstance(spec, Net):
        return NetPlayer(spec, d_in, d_out)
    example = jnp.zeros((2, *in_shape), jnp.result_type(float))
    kind = framework_of(spec)
    if kind == "linen":
        (make, make_abstract), name = _linen_maker(spec, example, f"{who} argument `{arg}`"), type(spec).__name__
    elif kind is None and callable(spec) and not isinstance(spec, Network):
        make, name = _factory_maker(spec, f"{who} argument `{arg}`"), getattr(spec, "__name__", "network")
        make_abstract = make
    else:
        raise bad_type(who, arg, "a jaxgan.neural.Net, a flax.linen Module (initialised per seed), or a factory "
                       "key -> model (or key -> (model, params)) of anything jaxgan.networks.network accepts", spec)
    try:
        net = make_abstract(jax.random.key(0))
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{who} argument `{arg}` could not be initialised for inputs of shape {in_shape}: "
                            f"{exc}") from None
    if net.kind == "jaxgan":
        raise bad_type(who, arg, "a Net spec for jaxgan MLPs (a factory of jaxgan MLP applies is not needed)", spec)
    _check_output(net, example, out_shape, who, arg)
    dropout = _has_dropout(net, example)
    return NetworkPlayer(make, net.apply_fn, tuple(in_shape), tuple(out_shape), _structure(net.params),
                         _structure(net.state), bool(net.batchnorm), dropout, name)


def _check_output(net: Network, example, out_shape, who, arg):
    try:
        out = jax.eval_shape(lambda p, s, x: net.apply_fn(p, s, x, train=False, rng=None)[0], net.params, net.state,
                             example)
    except Exception as exc:  # any failure to trace the model on these inputs is the user's model's message
        raise ArgumentError(f"{who} argument `{arg}` cannot take inputs of shape {tuple(example.shape[1:])} "
                            f"(per sample): {type(exc).__name__}: {exc}") from None
    per = out.shape[1:] if out.shape[:1] == (example.shape[0],) else None
    if out_shape == ():
        if per is None or math.prod(per) != 1:
            raise ArgumentError(f"{who} argument `{arg}`: the discriminator must give one scalar per sample; for "
                                f"{example.shape[0]} inputs it gives shape {tuple(out.shape)}.")
    elif per is None or math.prod(per) != math.prod(out_shape):
        raise ArgumentError(f"{who} argument `{arg}`: the generator's output must reshape to one sample of the data, "
                            f"shape {tuple(out_shape)}, per latent point; for {example.shape[0]} latent points it "
                            f"gives shape {tuple(out.shape)}.")


def _has_dropout(net: Network, example) -> bool:
    """Whether train mode draws random numbers (dropout): trace train mode with and without a key."""
    if not net.has_mode:
        return False
    try:
        jax.eval_shape(lambda p, s, x: net.apply_fn(p, s, x, train=True, rng=None)[0], net.params, net.state, example)
    except Exception:  # an rng is needed in train mode
        return True
    return False
