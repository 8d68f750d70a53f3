"""The OpenAI-compatible and Ollama backends over real HTTP, with a real model behind them.

The test serves SmolLM2 (the same local model as `llm_provider = "local"`) on 127.0.0.1
behind the two wire formats docqa speaks: OpenAI's /v1/chat/completions (vLLM, llama.cpp
server, LM Studio) and Ollama's /api/chat. Requests go through llama-index's OpenAILike and
Ollama clients exactly as they would to a real server.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def llm_server(seed_settings):
    pytest.importorskip("gguf")
    from qa.llm import _local_chat

    chat = _local_chat(replace(seed_settings, llm_provider="local"))
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, obj):
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, **req})
            if "messages" not in req:  # e.g. Ollama's /api/show: not something docqa needs
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            msgs = [{"role": m["role"], "content": m["content"]} for m in req["messages"]]
            text = chat(msgs)
            if self.path.endswith("/chat/completions"):
                self._send({"id": "x", "object": "chat.completion", "created": int(time.time()),
                            "model": req["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                                                "message": {"role": "assistant", "content": text}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
            elif self.path == "/api/chat":
                self._send({"model": req["model"], "created_at": "2026-11-25T00:00:00Z", "done": True,
                            "done_reason": "stop", "message": {"role": "assistant", "content": text}})
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    srv.shutdown()


@pytest.mark.parametrize("provider,path", [("openai", "/v1"), ("ollama", "")])
def test_llm_mode_through_a_server(seed_settings, embedder, llm_server, provider, path):
    from qa.answer import answer
    from qa.support import is_supported

    url, seen = llm_server
    settings = replace(seed_settings, llm_provider=provider, llm_base_url=url + path, llm_model="smollm2",
                       llm_timeout=300.0, llm_max_tokens=96)
    n = len(seen)
    ans = answer("Which policy's legacy created China's demographic imbalance?", settings=settings, mode="llm",
                 embedder=embedder)
    chats = [r for r in seen[n:] if "messages" in r]
    assert len(chats) == 1, [r["path"] for r in seen[n:]]  # the request reached the server ...
    req = chats[0]
    assert req["model"] == "smollm2" and req["messages"][0]["role"] == "system"
    assert "<passage n=\"1\"" in req["messages"][1]["content"]  # ... with the numbered passages as data
    assert "LLM unreachable" not in ans.note, ans.note
    assert ans.citations and not ans.refused
    import re

    if ans.mode == "llm":  # what the model wrote survived the support check, sentence by sentence
        for sentence, k in re.findall(r"(.+?)\s*\[(\d+)\]", ans.text):
            assert is_supported(sentence.strip(), ans.citations[int(k) - 1].context, embedder)[0]
    else:  # nothing it wrote was supported: the extractive answer, and why
        assert "extractive answer shown" in ans.note
