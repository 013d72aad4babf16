"""Robust decomposition X = L + S of your own matrix: ``python -m launch.decompose --help``.

The command line itself is :mod:`hidden_talents.robust.cli` (also installed as
``hidden-talents-decompose``).
"""

from hidden_talents.robust import cli

if __name__ == "__main__":
  cli.run()
