"""Back on the forge: status comments, time tracking, delivery of results, the outbox."""
