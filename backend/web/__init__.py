"""The web edge: Flask blueprints and Socket.IO handlers over the services."""
