"""Gymnasium environments (conversational recommendation, short-video feeds) and their wrappers."""
