"""RecoWorld agents."""
