"""Atelier: a self-hosted AI image studio (Flask + Flask-SocketIO backend)."""

__version__ = "0.1.0"
