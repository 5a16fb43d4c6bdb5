"""The plain-Docker lane: Dockerfile.dev rendered from the spec, `docker build`, BuildKit's log and progress."""
