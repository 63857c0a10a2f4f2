"""Iterative, causally masked order model: training, inference, metrics, baselines, evaluation."""
