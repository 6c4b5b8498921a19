"""Annotated documents: readers, validation and repair, splits, the bundled sample."""
