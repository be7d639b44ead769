"""The agent speaks first: outreach decisions become scheduled steps, sent through the contact gate."""
