"""hidden_talents: the objectives and experiments of "Hidden Talents of the VAE" in JAX."""
from setuptools import find_packages, setup

setup(
    name="hidden_talents",
    version="0.1.0",
    description=(
        "JAX reproduction of 'Hidden Talents of the Variational Autoencoder' "
        "(Dai, Wang, Aston, Hua, Wipf): the VAE as a nonlinear robust PCA."
    ),
    packages=find_packages(include=["hidden_talents", "hidden_talents.*", "launch", "launch.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.5",
        "chex>=0.1.90",
        "numpy>=1.26",
        "matplotlib>=3.8",
        "absl-py>=2.0",
        "ml_collections>=1.0",
    ],
    extras_require={"test": ["pytest>=8", "scipy>=1.11"]},
)
