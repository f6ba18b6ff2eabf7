"""People and access: accounts and role grants, who sees and does what (``access.Viewer``), sign-in, sessions, the
inbox of each user, and the regions that are assessed."""
