"""The book's road to attention: general attention (ch. 8), the sunspot-like forecast (ch. 6–7)
and Fibonacci with and without attention (ch. 9)."""
