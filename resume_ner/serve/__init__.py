"""The web service on a converted package: `python -m resume_ner.serve model=PKG`.

The HTTP contract (FastAPI; OpenAPI at /docs and /openapi.json):

    POST /v1/extract        {"text": "..."}        -> {"entities": [ENTITY...], "model": MODEL}
    POST /v1/extract/batch  {"texts": ["...", ...]} -> {"results": [{"entities": [...]}, ...],
                                                        "model": MODEL}
    GET  /v1/model   -> {"name", "version", "precision", "labels", "source_run", "limits": {...}}
    GET  /health     -> {"status": "ok"}             (the process is alive)
    GET  /ready      -> {"status": "ready"} | 503    (model loaded and warmed up)
    GET  /metrics    -> Prometheus text format
    GET  /           -> the page: paste a resume, see its entities highlighted

    ENTITY = {"label": str, "start": int, "end": int, "text": str, "score": float}
             (character offsets into the text exactly as sent, end exclusive)
    MODEL  = {"name": str, "version": str | null, "precision": "int8" | "fp32"}

With an API key configured (serve.api_key_env names the environment variable holding it),
/v1/* need the header `X-API-Key: <key>`; /, /health, /ready, /metrics and the docs do not.
Errors are JSON `{"error": {"code": str, "message": str, "request_id": str}}`.
"""
