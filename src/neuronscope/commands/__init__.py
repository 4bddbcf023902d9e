"""The jobs of the `neuronscope` command, one module per kind of job (see cli.py)."""
