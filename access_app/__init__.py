"""Identity and access: apps, user tickets, businesses, their members and roles (docs/architecture.md)."""
