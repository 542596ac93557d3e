"""``python -m api``: serve the HTTP API with the evidence service (LEDGER_API_HOST/PORT)."""

from api.server import serve
from ledger.settings import Settings

serve(Settings())
