"""The paper's objectives as pure, jit/vmap-safe functions (paper units: −2·ELBO)."""

from hidden_talents.objectives.gaussian import gaussian_kl, optimal_decoder_variance, xi_alpha

__all__ = ["gaussian_kl", "optimal_decoder_variance", "xi_alpha"]
