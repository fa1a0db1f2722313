"""GET /openapi.json (generated from the route declarations) and GET /docs (a self-contained page:
it loads nothing from the network, it renders /openapi.json with a few lines of script)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .auth import PUBLIC
from .registry import openapi_spec, route

bp = Blueprint("docs", __name__)


@route(bp, "/openapi.json", "GET", scope=PUBLIC, summary="The OpenAPI 3.1 description of this API")
def openapi_json():
    engine = current_app.extensions["authz_engine"]
    return jsonify(openapi_spec(current_app, title="partner-authz", version=f"1 (policy {engine.policy_version})"))


_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>partner-authz API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer} code,pre{font:12px ui-monospace,monospace} pre{background:#f6f6f6;padding:.5rem;overflow:auto}
.m{display:inline-block;width:4.5rem;font-weight:bold} .s{color:#666;font-size:12px}
</style></head><body>
<h1>partner-authz API v1</h1>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).
Authenticate with <code>Authorization: Bearer &lt;key&gt;</code>; each operation names its scope.</p>
<div id="ops">loading...</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(spec => {
  const root = document.getElementById('ops'); root.textContent = '';
  const resolve = s => s && s.$ref ? spec.components.schemas[s.$ref.split('/').pop()] : s;
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const d = document.createElement('details');
      const s = document.createElement('summary');
      s.innerHTML = '<span class="m"></span><code></code> <span class="s"></span>';
      s.children[0].textContent = method.toUpperCase(); s.children[1].textContent = path;
      s.children[2].textContent = op.summary + ' [scope: ' + op['x-scope'] + ']';
      d.appendChild(s);
      const body = op.requestBody && resolve(op.requestBody.content['application/json'].schema);
      const pre = document.createElement('pre');
      pre.textContent = (body ? 'request: ' + JSON.stringify(body, null, 2) + '\\n' : '') +
        'responses: ' + Object.keys(op.responses).join(', ');
      d.appendChild(pre); root.appendChild(d);
    }
  }
});
</script></body></html>
"""


@route(bp, "/docs", "GET", scope=PUBLIC, summary="A browsable page over /openapi.json", content_type="text/html")
def docs_page():
    return Response(_DOCS, mimetype="text/html")
