"""Datasets on disk: suites (manifest + shards), CSV folders and files, reading either."""
