"""A benchmark matrix: its spec (axes, bounds, exclude rules), its validation against the core, and TOML files."""
