"""Flax (linen) networks of the VAE / AE models of Sec. 5.

Mean networks x(d)-E1-…-μz(κ) and z(κ)-D1-…-μx(d), ReLU hidden layers. The diagonal encoder
covariance Σz comes from a second linear head on the last shared encoder layer followed by an
exponential (Sec. 5.1, "sharing just the first two mean network layers"): the head outputs
log σz², and Σz = diag(exp(log σz²)). The decoder covariance is never a network: it is optimised
out per entry in the loss (``objectives.decoder_variance_cost``, ξα of eq. 69).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


class Encoder(nn.Module):
  """x → (μz, log σz²)."""

  widths: Sequence[int]
  latent_dim: int
  logvar_bias_init: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x
    for i, w in enumerate(self.widths):
      h = nn.relu(nn.Dense(w, kernel_init=he_normal, name=f"E{i + 1}")(h))
    mu_z = nn.Dense(self.latent_dim, name="mu_z")(h)
    logvar_z = nn.Dense(self.latent_dim, bias_init=nn.initializers.constant(self.logvar_bias_init),
                        name="logvar_z")(h)
    return mu_z, logvar_z


class Decoder(nn.Module):
  """z → μx. The first layer's kernel (``D1``, or ``mu_x`` with no hidden layer) is Wᵀ of eq. 21."""

  widths: Sequence[int]
  data_dim: int

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z
    for i, w in enumerate(self.widths):
      h = nn.relu(nn.Dense(w, kernel_init=he_normal, name=f"D{i + 1}")(h))
    return nn.Dense(self.data_dim, name="mu_x")(h)


class AutoEncoder(nn.Module):
  """Encoder + decoder; ``encode`` and ``decode`` are exposed through ``apply(..., method=...)``."""

  encoder_widths: Sequence[int]
  decoder_widths: Sequence[int]
  latent_dim: int
  data_dim: int
  logvar_bias_init: float = 0.0

  def setup(self):
    self.encoder = Encoder(self.encoder_widths, self.latent_dim, self.logvar_bias_init)
    self.decoder = Decoder(self.decoder_widths, self.data_dim)

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def __call__(self, x: jax.Array) -> jax.Array:
    mu_z, _ = self.encoder(x)
    return self.decoder(mu_z)


def first_decoder_weights(params: dict) -> jax.Array:
  """W₁ of eq. 21 (shape (width of D1, κ)): columns index latent coordinates."""
  dec = params["params"]["decoder"] if "params" in params else params["decoder"]
  name = "D1" if "D1" in dec else "mu_x"
  return jnp.swapaxes(dec[name]["kernel"], -1, -2)
