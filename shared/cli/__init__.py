"""``campaignctl``: the operator's command line, and the demo ``make demo`` runs."""
