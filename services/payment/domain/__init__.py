"""Payment rules: the payment, its fees, risk and routing; no framework, no database."""
