"""Attribution from the journey: which touch a sale rests on, and how the models share it."""
