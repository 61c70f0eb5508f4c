"""SonoBench package."""
