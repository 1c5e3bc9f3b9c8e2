"""API keys: scoped bearer keys, stored hashed, checked the same way by every HTTP API.

``keys`` is the key and its file format, ``keyring`` what a service accepts and the check;
``starlette_routes`` and ``fastapi_dependency`` put that check in front of routes.
"""
