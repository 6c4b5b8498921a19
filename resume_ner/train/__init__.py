"""`python -m resume_ner.train`: one training run (or, with -m, a search)."""
