"""RecoWorld datasets."""
