"""The payment service's MongoDB collections."""
