"""Peer: the scoring server as it is usually written in Python — FastAPI on uvicorn (uvloop,
httptools), a pydantic request model, redis-py's asyncio client, scikit-learn's predict_proba on
the pickled GradientBoostingClassifier (train_model.py), one row per request.

Run: python3.11 bench/serving/fastapi_server.py --port P --model model.pkl [--workers N] [--redis uri]
uvicorn starts each worker by importing `fastapi_server:app`, so the settings reach the workers
through the environment, and the model and the Redis client are opened per worker at startup.
"""
import argparse
import math
import os
import pickle
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

REQUEST_FEATURES = [f"f{i}" for i in range(8)]
STORED_FEATURES = [f"g{i}".encode() for i in range(8)]


class PredictRequest(BaseModel):
    features: dict[str, float]
    entity: dict[str, str]
    model_name: str | None = None


app = FastAPI()
state: dict = {}


@app.on_event("startup")
async def startup() -> None:
    state["model"] = pickle.loads(Path(os.environ["BENCH_MODEL"]).read_bytes())
    state["redis"] = aioredis.from_url(os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"))


@app.on_event("shutdown")
async def shutdown() -> None:
    await state["redis"].close()


@app.post("/predict")
async def predict(request: PredictRequest) -> dict:
    card = request.entity.get("card_id")
    if card is None:
        raise HTTPException(400, "entity.card_id is required")
    stored = await state["redis"].hgetall(f"rtml:fv:bench:{card}")
    row = [request.features.get(f, math.nan) for f in REQUEST_FEATURES]
    row += [float(stored[g]) if stored.get(g) else math.nan for g in STORED_FEATURES]
    score = float(state["model"].predict_proba(np.array([row]))[0, 1])
    return {"score": score, "label": int(score >= 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    os.environ["BENCH_MODEL"] = str(Path(args.model).resolve())
    os.environ["BENCH_REDIS"] = args.redis
    uvicorn.run("fastapi_server:app", app_dir=str(Path(__file__).parent), host="127.0.0.1", port=args.port, workers=args.workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
