"""SCM simulation: graphs, mechanisms, noise, shift presets and suite storage."""
