"""RecoWorld bench."""
