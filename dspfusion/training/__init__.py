"""Two-stage training: losses, configuration and the (DDP-capable) trainer."""
