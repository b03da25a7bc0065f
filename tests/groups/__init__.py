"""Tests for the group coordinator."""
