"""Outreach's durable state: scheduled steps, call tasks, templates, pauses (``store``)."""
