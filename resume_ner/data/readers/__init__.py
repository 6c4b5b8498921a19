"""Readers of annotation files: each turns one format into RawRecords, nothing more."""

from resume_ner.data.readers.detect import FORMATS, detect_format, read_raw

__all__ = ["FORMATS", "detect_format", "read_raw"]
