"""The parametric kernel of a network, its spectrum, and the GAN field of a discriminator network.

Section 3 of the article: with `D` parametrised by `θ` and gradient
ascent `dθ/dt = ∂J/∂θ`, the discriminator moves in function space as

    dD(x)/dt = ∫ ∂J/∂D(y) K_θ(x, y) dy,    K_θ(x, y) = Σ_j ∂D(x)/∂θ_j · ∂D(y)/∂θ_j,

the "parametric kernel of the system" — what is now called the empirical neural tangent kernel
(Jacot, Gabriel & Hongler 2018, "Neural Tangent Kernel", NeurIPS). This package computes it for
any network with a scalar output per input — a plain `apply(params, x)`, a jaxgan MLP, a
flax.linen, flax.nnx or equinox module, a `jaxgan.networks.Network` (`make_plan` in `plan.py`
canonicalises them once; flax/equinox dense stacks are recognised by `jaxgan.networks.recognise`
and take the structured path):

- `parametric_kernel` — the matrix `K[i, j] = K_θ(x1_i, x2_j)`, by one of four algorithms
  (`algorithm=`, one of `ALGORITHMS`): `"structured"` (jaxgan MLPs and recognised dense stacks: per-layer factor
  contraction, never the N×P Jacobian; `structured.py`), `"jacobian"` (any network: Jacobian row
  blocks sized to a memory budget, symmetric blocks when `x2` is omitted; `blocks.py`), `"kvp"`
  (any network: kernel-vector products by blocks of columns, for when Jacobian rows do not fit;
  `kvp.py`) and `"jacfwd"` (the literal recipe, P forward passes: a reference for small nets);
  `"auto"` picks the cheapest that fits the budget, and `kernel_choice` says which and why
  (`KernelChoice`; the cost model in `choice.py`);
- `kernel_vp` — `K(x_out, x_in) @ g` by one vjp and one jvp, without forming `K`;
- `spectrum` — eigenvalues, eigenfunctions and effective rank of the integral operator;
- `top_spectrum` — its top k eigenpairs (`TopSpectrum`, with residuals) by Lanczos or LOBPCG on
  kernel-vector products, never forming `K`: the spectrum at large N;
- `discriminator_field` — the kernel-induced GAN field (`jaxgan.fields.kernel_field`, re-exported
  here) of a given discriminator network;
- `kernel_study` — the whole experiment for one MLP on a 1-D grid: kernel, spectrum, field and
  its modes (what `jaxgan kernel` prints and plots);
- `field_modes`, `field_eigenvalues`, `FieldModes` — the linearisation of a kernel field at its
  rest point, from `jaxgan.stability.modes` (re-exported here).

**BatchNorm.** In eval mode a BatchNorm network is an ordinary function of each input and `K` is
a kernel. In train mode `D(x_i)` depends on the whole batch (through its statistics), so
`K = J Jᵀ` with `J = ∂D(batch)/∂θ` the full-batch Jacobian is an *operator on that batch*: its
entries change when any other point of the batch changes. For networks with BatchNorm or
dropout (jaxgan MLPs, flax and equinox models) the functions here refuse to guess: pass
`train=False` (kernel) or `train=True` (batch operator). Dropout is supported in eval mode, or in
train mode with a fixed per-example mask for jaxgan MLPs (`x1_kwargs={"mask": ...}`) and one draw
from `rng=` for the whole batch for flax/equinox models (then also a batch operator).

**Precision.** A float32 kernel's eigenvalues are wrong below about `1e-8·λ_max`: for the
MLPs 1→256→256→1 (ReLU and tanh) on 512 points the float32 spectrum differs from the float64
one by up to 2e-8·λ_max, so everything below that (`KernelSpectrum.noise_floor = eps·λ_max`,
1.2e-7·λ_max in float32, is a safe bound) is round-off, not structure — and these spectra decay
below 1e-8 within a few dozen eigenvalues. Compute in float64 to resolve the tail: create the
parameters and call the functions inside `with jax.enable_x64(True):` (or enable x64 for the
whole program); jaxgan never changes that setting itself.
"""

from ..fields import kernel_field
from ..stability.modes import FieldModes, field_eigenvalues, field_modes
from .discriminator import discriminator_field
from .parametric import parametric_kernel
from .choice import KernelChoice, PathCost, kernel_choice  # the automatic choice of algorithm
from .plan import ALGORITHMS, DEFAULT_MEMORY_BUDGET
from .products import kernel_vp
from .spectrum import KernelSpectrum, spectrum
from .study import BN_MODES, KernelStudy, kernel_study
from .eigen import EIGEN_ALGORITHMS, TopSpectrum, top_spectrum  # the matrix-free top of the spectrum

__all__ = [
    "parametric_kernel", "kernel_vp", "spectrum", "KernelSpectrum", "kernel_field", "discriminator_field",
    "field_eigenvalues", "field_modes", "FieldModes", "ALGORITHMS", "DEFAULT_MEMORY_BUDGET",
    "kernel_study", "KernelStudy", "BN_MODES",
]
__all__ += ["kernel_choice", "KernelChoice", "PathCost"]
__all__ += ["top_spectrum", "TopSpectrum", "EIGEN_ALGORITHMS"]
