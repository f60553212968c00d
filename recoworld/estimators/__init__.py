"""RecoWorld estimators."""
