"""The built-in notification channels, one module each (registered in `towpath.notify.registry`)."""
