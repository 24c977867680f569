"""A/B timing of two git revisions side by side (``symjax bench-ab``): the ABBA driver and its worker."""
