"""Prometheus metrics and a health check, on their own listener (C{kafkatwist.metrics.listener}).

L{kafkatwist.metrics.hook}: the request hook counting requests, times and
topic bytes; L{kafkatwist.metrics.collector}: Kafka's metrics, as the JMX
exporter names them, computed at scrape time; L{kafkatwist.metrics.web}:
the twisted.web site (C{/metrics}, C{/healthz}) and its start.
"""
