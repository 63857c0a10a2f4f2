"""Thin command-line layer: parse, validate, call the library, print."""
