"""neuronscope: neuroscience on artificial neural networks."""

__version__ = "0.1.0"
