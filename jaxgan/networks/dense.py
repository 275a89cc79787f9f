"""Recognition of dense stacks: the `MLPSpec` of a flax or equinox model, from the model itself.

The model's apply is traced (`jax.make_jaxpr`, eval mode, a small batch) and each parameter leaf
is classified by the first operation that consumes it (through reshapes, broadcasts,
transposes and dtype conversions): a matrix in a `dot_general` is a dense kernel (its contracted
axis tells `(in, out)` from `(out, in)`), a vector added after it is the bias, a vector
multiplied then one added are BatchNorm's scale and offset; a state leaf subtracted is a running
mean, one added (to eps, before a square root) a running variance. In order of use they must
read `kernel, bias, [scale, offset], kernel, bias, …, kernel, bias` with widths that chain to
one output, every parameter leaf used once. The activation is read from the primitives
(`tanh`; `relu`/`max`; a select with a literal slope for leaky ReLU).

The candidate is then **verified**: jaxgan's MLP with the parameters mapped into its
`params["dense"][l]` layout must give the model's outputs *and* its parameter derivatives (a
jvp along a random tangent) on random inputs, in float64, in the mode asked for. The mapping
is a permutation (and transposition) of the parameter entries, so equal derivatives mean an
equal kernel. Anything that does not match — a convolution, a residual connection, tied or
frozen weights, another activation — is not recognised (`None`), and the kernel takes the
generic path: a wrong recognition can never give a wrong kernel.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import nets as _nets
from .network import Network, network

__all__ = ["Recognised", "recognise"]

_PASS = {"reshape", "broadcast_in_dim", "convert_element_type", "squeeze", "expand_dims", "copy", "copy_p"}
_RANDOM = {"random_bits"}  # a draw (splitting keys is not one)
_VERIFY_TOL = 1e-9  # relative, in float64
_cache: dict = {}


class Recognised(NamedTuple):
    """A network recognised as a dense stack.

    - `spec`: the `jaxgan.nets.MLPSpec` it equals (`bn_momentum` is jaxgan's default: it does not
      enter the kernel, and is not read from the model).
    - `params`: its parameters (and running statistics) mapped into jaxgan's layout
      (`params["dense"][l]["w"]` of shape `(d_l, d_{l+1})`, …): `spec`'s MLP with these gives the
      model's outputs and parameter derivatives.
    - `mapping`: where each entry came from (hashable): per layer `(kernel leaf, transposed,
      bias leaf, BatchNorm (scale, offset, mean, var) leaves or None)`, indices into
      `jax.tree_util.tree_leaves` of the network's `params` and `state`.
    """

    spec: _nets.MLPSpec
    params: dict
    mapping: tuple


# ============================================================================ the trace


def _sub_jaxprs(eqn):
    for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(name)
        if sub is not None:
            yield getattr(sub, "jaxpr", sub)


def _walk(jaxpr, origin: dict, events: list, seen: set, prims: list, literals: list):
    """Record the first real consumer of every traced leaf (`origin`: var → (leaf, transposed))."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        prims.append(eqn.params.get("name", name) if name == "custom_jvp_call" else name)
        for v in eqn.invars:
            if hasattr(v, "val") and np.ndim(v.val) == 0 and np.issubdtype(np.asarray(v.val).dtype, np.floating):
                literals.append((name, _clean(float(v.val))))
        subs = list(_sub_jaxprs(eqn))
        if subs:
            for sub in subs:
                if len(sub.invars) == len(eqn.invars):
                    inner = {iv: origin[ov] for ov, iv in zip(eqn.invars, sub.invars)
                             if not hasattr(ov, "val") and ov in origin}
                    _walk(sub, inner, events, seen, prims, literals)
            continue
        for pos, v in enumerate(eqn.invars):
            if hasattr(v, "val") or v not in origin:
                continue
            leaf, transposed = origin[v]
            if name in _PASS or name == "transpose":
                flip = name == "transpose" and tuple(eqn.params.get("permutation", ())) == (1, 0)
                origin[eqn.outvars[0]] = (leaf, transposed ^ flip)
            elif leaf not in seen:
                seen.add(leaf)
                events.append((leaf, name, pos, transposed, eqn.params))


def _trace(net: Network, x, train: bool, rng=None):
    """`(events, prims, literals)` of the network's apply on `x`."""
    p_leaves, p_def = jax.tree_util.tree_flatten(net.params)
    s_leaves, s_def = jax.tree_util.tree_flatten(net.state)

    def f(pl, sl, xx):
        return net.apply(jax.tree_util.tree_unflatten(p_def, pl), jax.tree_util.tree_unflatten(s_def, sl), xx,
                         train=train, rng=rng)[0]

    closed = jax.make_jaxpr(f)(p_leaves, s_leaves, jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)))
    jaxpr = closed.jaxpr
    n_p, n_s = len(p_leaves), len(s_leaves)
    origin = {v: (("p", i), False) for i, v in enumerate(jaxpr.invars[:n_p])}
    origin.update({v: (("s", i), False) for i, v in enumerate(jaxpr.invars[n_p:n_p + n_s])})
    events, prims, literals = [], [], []
    _walk(jaxpr, origin, events, set(), prims, literals)
    return events, prims, literals


def _structure(net: Network, x):
    """A hashable key of what a trace of `net` on inputs like `x` depends on (not the values)."""
    leaves = jax.tree_util.tree_leaves((net.params, net.state))
    return (net.apply_fn, jax.tree_util.tree_structure((net.params, net.state)),
            tuple((np.shape(a), str(jnp.result_type(a))) for a in leaves), np.shape(x)[1:], str(jnp.result_type(x)))


def _cached(key, make):
    try:
        return _cache[key]
    except KeyError:
        pass
    except TypeError:  # pragma: no cover - an unhashable structure: no cache
        return make()
    if len(_cache) > 512:  # models seen long ago: keep the cache small
        _cache.clear()
    value = _cache[key] = make()
    return value


def uses_rng(net: Network, x) -> bool:
    """Whether the network draws random numbers in train mode (dropout), from a trace on `x`."""
    def draws():
        key = jax.random.PRNGKey(0)
        try:
            _, prims, _ = _trace(net, x, True, None if net.kind == "nnx" else key)
        except Exception:  # noqa: BLE001 - a model that cannot be traced this way is checked later
            return False
        return bool(_RANDOM & set(prims))

    return _cached(("rng",) + _structure(net, x), draws)


# ============================================================================ the candidate


def _layers(events, p_shapes):
    """Parse the parameter events into layers `(w, transposed, b, bn or None, d_in, d_out)`."""
    ev = [e for e in events if e[0][0] == "p"]
    if len(ev) != len(p_shapes):
        return None
    layers, i = [], 0
    while i < len(ev):
        (_, w), name, pos, transposed, params = ev[i]
        if name != "dot_general" or len(p_shapes[w]) != 2:
            return None
        (contract_l, contract_r), _ = params["dimension_numbers"]
        contract = contract_l if pos == 0 else contract_r
        if len(contract) != 1:
            return None
        axis = contract[0] ^ int(transposed)
        d_in, d_out = (p_shapes[w] if axis == 0 else p_shapes[w][::-1])
        if i + 1 >= len(ev) or ev[i + 1][1] != "add" or int(np.prod(p_shapes[ev[i + 1][0][1]])) != d_out:
            return None
        b = ev[i + 1][0][1]
        i += 2
        bn = None
        if i + 1 < len(ev) and ev[i][1] == "mul" and ev[i + 1][1] == "add":
            s, o = ev[i][0][1], ev[i + 1][0][1]
            if np.prod(p_shapes[s]) != d_out or np.prod(p_shapes[o]) != d_out:
                return None
            bn, i = (s, o), i + 2
        layers.append((w, axis == 1, b, bn, d_in, d_out))
    return layers


def _clean(v: float) -> float:
    """A float32 literal as the short decimal it was written as (`9.99e-06` → `1e-05`)."""
    f = np.float32(v)
    return float(np.format_float_positional(f, unique=True)) if float(f) == v else v


def _activations(prims, literals):
    """Candidate `(activation, negative_slope)` pairs from the primitives seen."""
    names = set(prims)
    out = []
    if "tanh" in names:
        out.append(("tanh", 0.01))
    if "relu" in names or "max" in names:
        out.append(("relu", 0.01))
    if "select_n" in names:
        slopes = sorted({v for p, v in literals if p in ("mul", "jit", "pjit") and 0.0 < v < 1.0})
        out += [("leaky_relu", s) for s in slopes]
    return out


def _candidates(net: Network, x):
    """`(spec, mapping)` pairs to verify, from the eval-mode trace; `[]` when it is no dense stack."""
    events, prims, literals = _trace(net, x, False)
    p_shapes = [tuple(np.shape(v)) for v in jax.tree_util.tree_leaves(net.params)]
    layers = _layers(events, p_shapes)
    if not layers or layers[-1][5] != 1 or layers[-1][3] is not None or layers[0][4] != x.shape[1]:
        return []
    hidden = layers[:-1]
    if any(a[5] != b[4] for a, b in zip(layers[:-1], layers[1:])):
        return []
    has_bn = {h[3] is not None for h in hidden}
    if len(has_bn) > 1:
        return []
    batchnorm = bool(hidden) and has_bn.pop()
    means = [e[0][1] for e in events if e[0][0] == "s" and e[1] == "sub"]
    variances = [e[0][1] for e in events if e[0][0] == "s" and e[1] == "add"]
    eps = [v for p, v in literals if p == "add" and 0.0 < v < 0.1]
    if batchnorm and (len(means) != len(hidden) or len(variances) != len(hidden) or not eps):
        return []
    mapping = tuple((w, tr, b, None if bn is None else bn + (means[l], variances[l]))
                    for l, (w, tr, b, bn, _, _) in enumerate(layers))
    sizes = (layers[0][4],) + tuple(layer[5] for layer in layers)
    acts = _activations(prims, literals) if hidden else [("relu", 0.01)]
    return [(_nets.MLPSpec(sizes, act, batchnorm, 0.0, slope, eps[0] if batchnorm else 1e-5), mapping)
            for act, slope in acts]


def mapped_params(mapping, params, state) -> dict:
    """The network's `params`/`state` in jaxgan's MLP layout (see `Recognised`)."""
    pl = jax.tree_util.tree_leaves(params)
    sl = jax.tree_util.tree_leaves(state)
    dense, bn, stats = [], [], []
    for w, tr, b, norm in mapping:
        kernel = pl[w].T if tr else pl[w]
        dense.append({"w": kernel, "b": pl[b].reshape(-1)})
        if norm is not None:
            bn.append({"scale": pl[norm[0]].reshape(-1), "offset": pl[norm[1]].reshape(-1)})
            stats.append({"mean": sl[norm[2]].reshape(-1), "var": sl[norm[3]].reshape(-1)})
    out: dict[str, Any] = {"dense": dense}
    if bn:
        out["bn"], out["batch_stats"] = bn, stats
    return out


# ============================================================================ verification


@functools.partial(jax.jit, static_argnames=("apply_fn", "spec", "mapping", "train"))
def _mismatch(apply_fn, spec, mapping, train, params, state, x, tangent):
    """Relative differences `(outputs, jvps)` between the network and the candidate MLP."""

    def model(p):
        return apply_fn(p, state, x, train=train, rng=None)[0].reshape(x.shape[0])

    def mlp(p):
        out, _ = _nets._forward(spec, mapped_params(mapping, p, state), x, train=train)
        return out[:, 0]

    o1, t1 = jax.jvp(model, (params,), (tangent,))
    o2, t2 = jax.jvp(mlp, (params,), (tangent,))
    rel = lambda a, b: jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-300)  # noqa: E731
    return rel(o1, o2), rel(t1, t2)


def _verify(net: Network, spec, mapping, x, train: bool) -> bool:
    """The candidate equals the network (outputs and derivatives) on `x` and random inputs, in float64."""
    with jax.enable_x64(True):
        to64 = lambda t: jax.tree_util.tree_map(  # noqa: E731  (on the host: no compiled conversions)
            lambda a: np.asarray(a, np.float64) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a, t)
        rng = np.random.default_rng(0)
        xs = np.concatenate([np.asarray(x, np.float64)[:4], rng.normal(size=(4, x.shape[1]))])
        tangent = jax.tree_util.tree_map(lambda a: rng.normal(size=np.shape(a)), net.params)
        try:
            d_out, d_jvp = _mismatch(net.apply_fn, spec, mapping, train, to64(net.params), to64(net.state),
                                     xs, tangent)
        except Exception:  # noqa: BLE001 - any failure means: not this candidate
            return False
        return bool(d_out < _VERIFY_TOL and d_jvp < _VERIFY_TOL)


def recognise_network(net: Network, x, train: bool) -> Recognised | None:
    """The recognised dense stack of a linen/nnx/equinox `Network` on inputs like `x` `(n, d)`
    in mode `train`, or `None`. Candidates are cached per model structure; each call verifies."""
    if net.kind not in ("linen", "nnx", "equinox") or np.ndim(x) != 2:
        return None
    def candidates():
        try:
            return _candidates(net, x[:2])
        except Exception:  # noqa: BLE001 - an untraceable model is simply not recognised
            return []

    cands = _cached(("dense",) + _structure(net, x), candidates)
    # the model computes in the promoted dtype of its inputs and parameters (flax and equinox promote)
    dtype = jnp.result_type(np.asarray(x).dtype, *jax.tree_util.tree_leaves(net.params))
    for spec, mapping in cands:
        if _verify(net, spec, mapping, x, bool(train)):
            mapped = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype),
                                            mapped_params(mapping, net.params, net.state))
            return Recognised(spec, mapped, mapping)
    return None


def recognise(model, params=None, *, x, state=None, train: bool = False) -> Recognised | None:
    """Whether a flax or equinox model is a dense stack that jaxgan's structured kernel path takes.

    **Arguments:** `model`, `params`, `state` as in `jaxgan.networks.network`; `x`: example
    inputs `Float[Array, "n d"]` (or the int `d`); `train`: the mode to verify in.

    **Returns:** a `Recognised` (`spec`, `params` in jaxgan's layout, `mapping`), or `None` for any
    other network (jaxgan MLPs and plain functions included: they need no recognition).

    **Example:**

    ```python
    rec = jaxgan.networks.recognise(flax_mlp, variables, x=jnp.zeros((1, 2)))
    rec.spec      # MLPSpec(sizes=(2, 64, 64, 1), activation='relu', ...)
    ```
    """
    net = network(model, params, state=state, who="recognise")
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        x = np.zeros((2, int(x)), jnp.result_type(*jax.tree_util.tree_leaves(net.params)))
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[0] < 2:
        x = np.concatenate([x, x])
    return recognise_network(net, x, bool(train))
