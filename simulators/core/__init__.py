"""The project's base, imported by both sides: errors, atomic files, provenance, the Dataset record, resources."""
