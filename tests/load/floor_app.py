"""The floor of `make load`: a trivial FastAPI app on the webhook's path, served like `prescreen serve`.

Whatever it costs per request (uvicorn, HTTP parsing, FastAPI routing, a small JSON answer) the webhook pays
too; the webhook's numbers are read against it. It reads no body, checks no signature and stores nothing.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="load floor")


@app.post("/v1/marketplaces/{marketplace}/screen")
async def screen(marketplace: str) -> dict[str, str]:
    return {"marketplace": marketplace, "decision": "allow"}
