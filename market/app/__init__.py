"""The top layer: the application composed from every domain (asgi), the `market` command
(cli), `market dev` (dev), the demo data (seed) and the child processes they start (processes).
It may import everything; nothing below it imports it."""
