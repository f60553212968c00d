"""RecoWorld users."""
