"""Tests of kafkatwist.quotas."""
