"""Tests for kafkatwist.integration."""
