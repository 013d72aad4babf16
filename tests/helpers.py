"""Small settings shared by the engine tests."""

from hidden_talents import train

TINY = train.Settings(
    data_dim=12, kappa_max=4, generator_widths=(8, 16), encoder_widths=(16, 8),
    decoder_widths=(8, 16), latent_dim=6, num_samples=200, batch_size=20, chunk_steps=5,
    learning_rate=1e-3, alpha=1e-2, eval_batch_size=64, hist_bins=10)
