"""Socket.IO push (python-socketio, mounted at /socket.io): clients subscribe to events with a `read` key and
hear updates after committed ingest batches, milestones, capacity alerts and viral trends."""
