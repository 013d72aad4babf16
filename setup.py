"""Packaging shim: the metadata is in pyproject.toml (``pip install -r requirements.txt -e .``)."""
from setuptools import setup

setup()
