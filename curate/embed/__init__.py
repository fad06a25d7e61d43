"""Embedding stage: images -> L2-normalised CLIP embeddings (reader -> encoder -> writer)."""
