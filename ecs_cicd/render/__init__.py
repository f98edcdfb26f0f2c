"""Pure renderers: data in, file text out (buildspec, appspec, taskdef.json, docker-compose)."""
