"""`python -m activation` runs the same CLI as the `activate` console script."""

from activation.cli import main

main()
