"""Tests for kafkatwist.apis."""
