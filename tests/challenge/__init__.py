"""An independent Python port of the CodeCrafters "Build your own Kafka" tester."""
