"""The one place that touches a model's internals: addresses, hooks, metadata, receptive fields."""
