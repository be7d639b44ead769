"""The API's runtime: threads and their inbound messages, the event store and bus, the turn runner and
delivery to the patient's channel (see ``docs/contracts.md``, "api/")."""
