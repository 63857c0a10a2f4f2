"""Evaluation: metrics, the evaluation run, cost estimates, time and memory measurement, tables."""
