"""The embedded local stack: a Kafka-protocol broker and a MongoDB wire server as processes.

For development and tests only. Production and docker-compose use Apache Kafka and MongoDB.
"""
