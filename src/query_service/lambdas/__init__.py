"""Thin Lambda handlers: parse the event, call the domain/storage, shape the answer."""
