"""The public JSON API (``/api/v1/...``): lot and product searches, and its OpenAPI document."""
