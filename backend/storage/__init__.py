"""Storage: files on disk and SQLite. Knows nothing of Flask or Socket.IO."""
