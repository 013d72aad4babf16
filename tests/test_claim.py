"""Figure 1's pre-registered decision rule (experiments.claim), on hand-made cells."""

import math

from hidden_talents.experiments import claim


def _v(**kw):
  base = dict(kappa=12, vae_nmse=0.05, vae_converged=True, vae_active_dims=12, ae_nmse=0.12,
              ae_converged=True)
  base.update(kw)
  return claim.cell_verdict(**base)


def test_reproduced_needs_half_the_error_and_kappa_dimensions():
  assert _v() == (claim.REPRODUCED, 0.05 / 0.12)
  assert _v(vae_nmse=0.06)[0] == claim.REPRODUCED  # exactly ½
  assert _v(vae_active_dims=14)[0] == claim.REPRODUCED  # κ + 2
  assert _v(vae_active_dims=15)[0] == claim.AHEAD  # 2× better but not κ ± 2
  assert _v(vae_active_dims=9)[0] == claim.AHEAD


def test_refuted_when_the_best_ae_is_within_20_percent_or_better():
  assert _v(vae_nmse=0.10, ae_nmse=0.12)[0] == claim.REFUTED  # AE = 1.2 × VAE
  assert _v(vae_nmse=0.2, ae_nmse=0.1)[0] == claim.REFUTED
  assert _v(vae_nmse=0.099, ae_nmse=0.12)[0] == claim.AHEAD  # AE 1.21 × VAE


def test_undecided_unless_both_curves_converged():
  assert _v(vae_converged=False)[0] == claim.UNDECIDED
  assert _v(ae_converged=False)[0] == claim.UNDECIDED
  verdict, ratio = _v(vae_nmse=float("nan"))
  assert verdict == claim.UNDECIDED and math.isnan(ratio)


def test_verdict_table_lists_every_cell():
  row = {"kappa": 4, "nu": 0.3, "input_nmse": 0.4,
         "vae": {"nmse": 0.01, "converged": True, "active_dims": 4, "inlier_exact_fraction": 0.9},
         "ae_l2": {"nmse": 0.05, "converged": False, "c2": 0.1, "inlier_exact_fraction": 0.5},
         "verdict": {"vae": claim.UNDECIDED}, "ratio_to_best_ae": {"vae": 0.2},
         "rpca": {"nmse": 0.3}}
  table = claim.verdict_table([row])
  assert "| 4 | 0.3 | 0.400 | 0.0100 (4, 0.90) | UNDECIDED (0.20) | 0.0500* (ae_l2, 0.1, 0.50) " \
         "| 0.3000 |" in table
