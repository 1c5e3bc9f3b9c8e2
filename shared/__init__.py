"""Code every service shares: event contracts, money, messaging, storage and runtime."""
