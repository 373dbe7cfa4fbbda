"""The regular frequencies a forecast run knows (no heavy imports: the config reads this)."""

# name -> (pandas period code, season length, default horizon)
FREQUENCIES = {
    "hourly": ("h", 24, 24),
    "daily": ("D", 7, 14),
    "weekly": ("W", 52, 13),
    "monthly": ("M", 12, 12),
    "quarterly": ("Q", 4, 8),
    "yearly": ("Y", 1, 10),
}
