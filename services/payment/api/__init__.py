"""The payment HTTP API: routes, the error envelope, request guards and processor webhooks."""
