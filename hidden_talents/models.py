"""Flax (linen) networks of the VAE / AE models of Sec. 5.

Mean networks x(d)-E1-…-μz(κ) and z(κ)-D1-…-μx(d), ReLU hidden layers. The diagonal encoder
covariance Σz comes from a second linear head on the last shared encoder layer followed by an
exponential (Sec. 5.1, "sharing just the first two mean network layers"): the head outputs
log σz², and Σz = diag(exp(log σz²)). The decoder covariance Σx = diag γ depends on
``decoder_variance`` (``objectives.unified.DECODER_VARIANCES``):

* ``optimal`` (default) — no parameters: optimised out per entry in the loss
  (``objectives.decoder_variance_cost``, ξα of eq. 69). The parameter tree is exactly the one the
  project had before decoder variances existed, so old checkpoints load unchanged.
* ``learned`` — a linear head ``logvar_x`` (d outputs) on the last hidden decoder layer (on z with
  no hidden layer) beside ``mu_x``, giving s(z) = log(γ(z) − α) per entry; zero-initialised, so
  training starts from γ = α + 1 everywhere.
* ``shared`` — one scalar parameter ``logvar_x`` of the decoder (s, initialised at 0).

``matmul_dtype`` (``train.Settings.precision``): None = float32 throughout (the default); bfloat16
= the mean networks' matmuls in bfloat16 (parameters stay float32, Flax casts them per call) while
the log-variance heads, μz and μx handed to the loss, and all loss math stay float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


class Encoder(nn.Module):
  """x → (μz, log σz²)."""

  widths: Sequence[int]
  latent_dim: int
  logvar_bias_init: float = 0.0
  matmul_dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x
    for i, w in enumerate(self.widths):
      h = nn.relu(nn.Dense(w, kernel_init=he_normal, dtype=self.matmul_dtype,
                           name=f"E{i + 1}")(h))
    mu_z = nn.Dense(self.latent_dim, dtype=self.matmul_dtype, name="mu_z")(h)
    logvar_z = nn.Dense(self.latent_dim, bias_init=nn.initializers.constant(self.logvar_bias_init),
                        name="logvar_z")(h.astype(jnp.float32))
    return mu_z.astype(jnp.float32), logvar_z


class Decoder(nn.Module):
  """z → (μx, s) with s = log(γ − α) the decoder variance's head (None for ``'optimal'``).

  The first layer's kernel (``D1``, or ``mu_x`` with no hidden layer) is Wᵀ of eq. 21.
  """

  widths: Sequence[int]
  data_dim: int
  decoder_variance: str = "optimal"
  matmul_dtype: Any = None

  @nn.compact
  def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    h = z
    for i, w in enumerate(self.widths):
      h = nn.relu(nn.Dense(w, kernel_init=he_normal, dtype=self.matmul_dtype,
                           name=f"D{i + 1}")(h))
    mu_x = nn.Dense(self.data_dim, dtype=self.matmul_dtype, name="mu_x")(h).astype(jnp.float32)
    if self.decoder_variance == "optimal":
      return mu_x, None
    if self.decoder_variance == "learned":
      return mu_x, nn.Dense(self.data_dim, kernel_init=nn.initializers.zeros,
                            name="logvar_x")(h.astype(jnp.float32))
    if self.decoder_variance == "shared":
      s = self.param("logvar_x", nn.initializers.zeros, ())
      return mu_x, jnp.broadcast_to(s, mu_x.shape)
    raise ValueError(f"unknown decoder_variance {self.decoder_variance!r}")


class AutoEncoder(nn.Module):
  """Encoder + decoder; ``encode``, ``decode`` (μx only) and ``decode_with_variance`` (μx, s) are
  exposed through ``apply(..., method=...)``."""

  encoder_widths: Sequence[int]
  decoder_widths: Sequence[int]
  latent_dim: int
  data_dim: int
  logvar_bias_init: float = 0.0
  decoder_variance: str = "optimal"
  matmul_dtype: Any = None

  def setup(self):
    self.encoder = Encoder(self.encoder_widths, self.latent_dim, self.logvar_bias_init,
                           self.matmul_dtype)
    self.decoder = Decoder(self.decoder_widths, self.data_dim, self.decoder_variance,
                           self.matmul_dtype)

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)[0]

  def decode_with_variance(self, z: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(μx, s): s = log(γ − α) of the shape of μx, or None for ``'optimal'``."""
    return self.decoder(z)

  def __call__(self, x: jax.Array) -> jax.Array:
    mu_z, _ = self.encoder(x)
    return self.decoder(mu_z)[0]


def first_decoder_weights(params: dict) -> jax.Array:
  """W₁ of eq. 21 (shape (width of D1, κ)): columns index latent coordinates."""
  dec = params["params"]["decoder"] if "params" in params else params["decoder"]
  name = "D1" if "D1" in dec else "mu_x"
  return jnp.swapaxes(dec[name]["kernel"], -1, -2)
