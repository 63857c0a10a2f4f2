"""The SCM prior: graph, mechanism and noise families, parameter ranges, specs and presets, sampling."""
