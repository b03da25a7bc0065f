"""Tests of the container image: its entry point, its health probe, and the image itself."""
