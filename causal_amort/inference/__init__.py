"""Using a trained model: streaming inference, the Python API, CSV prediction, prior knowledge, pruning to a DAG."""
