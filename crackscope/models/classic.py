"""placeholder: filled in by the classifier work."""
