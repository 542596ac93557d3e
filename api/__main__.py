"""``python -m api``: serve the HTTP API (LEDGER_API_HOST / LEDGER_API_PORT)."""

import uvicorn

from ledger.settings import Settings

settings = Settings()
uvicorn.run("api.app:app", host=settings.api_host, port=settings.api_port)
