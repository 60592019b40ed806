"""Segments on disk: crash-safe writing, quota, reading back."""
