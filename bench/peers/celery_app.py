"""The Celery peer: FastAPI + Celery on Redis, as the systems clipyard replaces were built.

POST /api/tasks      synthetic.delay(n, rate) -> 202 {id}
GET  /api/tasks/{id} AsyncResult: state and the PROGRESS meta (what a polling page reads)
GET  /api/stats      finished task count (a Redis counter bumped by the task_postrun signal)

The Celery task runs the synthetic job: after `delay` ms, N update_state(state='PROGRESS') calls at a fixed rate,
each stamped with its emit time in ms, then returns. Env: REDIS_URL.
"""
import os
import time

import redis
from celery import Celery
from celery.result import AsyncResult
from celery.signals import task_postrun
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
celery = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(task_track_started=True, result_expires=3600, worker_hijack_root_logger=False)
counter = redis.Redis.from_url(REDIS_URL)


@celery.task(bind=True)
def synthetic(self, n, rate, delay=0):
    interval = 1.0 / rate
    start = time.time() + delay / 1000.0
    for i in range(1, n + 1):
        time.sleep(max(0.0, start + i * interval - time.time()))
        self.update_state(state="PROGRESS", meta={"tick": i, "at": time.time() * 1000})
    return {"tick": n, "at": time.time() * 1000}


@task_postrun.connect
def count_finished(state=None, **_):
    counter.incr("bench:finished" if state == "SUCCESS" else "bench:failed")


api = FastAPI()


class Job(BaseModel):
    n: int
    rate: float
    delay: float = 0


@api.post("/api/tasks", status_code=202)
def create(job: Job):
    result = synthetic.delay(job.n, job.rate, job.delay)
    return {"id": result.id, "status": "queued"}


@api.get("/api/tasks/{task_id}")
def read(task_id: str):
    result = AsyncResult(task_id, app=celery)
    info = result.info if isinstance(result.info, dict) else None
    return JSONResponse({"id": task_id, "state": result.state, "info": info})


@api.get("/api/stats")
def stats():
    done, failed = counter.mget("bench:finished", "bench:failed")
    return {"done": int(done or 0), "failed": int(failed or 0)}
