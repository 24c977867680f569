"""A benchmark matrix (the first stage): its spec (axes, bounds, exclude rules), its validation against the
core, and TOML files."""
