"""Payment: takes payments for campaigns through sandbox processors, exactly once per key."""
