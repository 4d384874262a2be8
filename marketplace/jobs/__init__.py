"""One background job system: jobs written in the caller's transaction, run by ``flask worker``."""
