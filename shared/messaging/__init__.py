"""Kafka messaging shared by the services: broker, delivery guarantees, outbox relay."""
