"""The paper's objectives as pure, jit/vmap-safe functions (paper units: −2·ELBO)."""

from hidden_talents.objectives.affine import (
    OptimalEncoder,
    affine_cost,
    affine_neg2_elbo,
    optimal_encoder,
)
from hidden_talents.objectives.gaussian import decoder_variance_cost, gaussian_kl, xi_alpha
from hidden_talents.objectives.partially_affine import ae_cost, partially_affine_cost
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients, unified_cost
from hidden_talents.objectives.vae import neg2_elbo_mc

__all__ = [
    "LossCoefficients", "OptimalEncoder", "ae_cost", "affine_cost", "affine_neg2_elbo",
    "decoder_variance_cost", "gaussian_kl", "model_coefficients", "neg2_elbo_mc",
    "optimal_encoder", "partially_affine_cost", "unified_cost", "xi_alpha",
]
