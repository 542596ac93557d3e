"""``python -m api``: serve the HTTP API with the evidence service (LEDGER_API_HOST/PORT)."""

import uvicorn

from ledger.settings import Settings

settings = Settings()
uvicorn.run("api.app:service_app", factory=True, host=settings.api_host, port=settings.api_port)
