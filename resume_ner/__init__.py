"""resume-ner: train, tune, convert and serve named-entity recognition models for resumes."""

__version__ = "0.1.0"
