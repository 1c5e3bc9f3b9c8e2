"""Analytics: revenue per completed payment, running campaign totals, reports and performance."""
