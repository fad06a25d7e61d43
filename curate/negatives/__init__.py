"""negatives stage."""
