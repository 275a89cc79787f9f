"""Any network into jaxgan's kernels: one protocol, adapters for the ecosystem, and recognition
of dense stacks.

- `Network` — the protocol: `apply(params, state, x, *, train, rng) -> (out, new_state)` with
  `out` one scalar per input, the trainable `params`, the mutable `state` (BatchNorm
  statistics), its `kind`; a frozen pytree.
- `network(model, params=None, *, state=None)` — canonicalises what users pass: a jaxgan
  `nets.mlp` apply, a plain `apply(params, x)`, a flax.linen module with its variables, a
  flax.nnx module, an equinox module (with its `eqx.nn.State`), or a `Network`. flax and equinox
  are optional extras (`pip install -e ".[flax]"`, `".[equinox]"`), imported only when given.
- `recognise(model, params=None, *, x, state=None, train=False)` — a `Recognised` (the `MLPSpec`
  and the parameters in jaxgan's layout) for a flax or equinox model that is a stack of dense
  layers with an elementwise activation (optionally BatchNorm and dropout), found by tracing the
  model and verified numerically (outputs and parameter derivatives against a jaxgan MLP with
  the parameters mapped, in float64), or `None`. The kernel functions
  use it to take the structured fast path.

The kernel functions (`jaxgan.kernels.parametric_kernel`, `kernel_vp`, `discriminator_field`)
accept any of these as their first argument.

Layout: `network.py` (the protocol, `network()`, the plain and jaxgan adapters, hashable keys),
`frameworks.py` (flax.linen, flax.nnx, equinox), `dense.py` (recognition of dense stacks).
"""

from .network import KINDS, Network, network
from .dense import Recognised, recognise

__all__ = ["Network", "network", "recognise", "Recognised", "KINDS"]
