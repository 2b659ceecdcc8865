"""A bare Starlette app: the baseline `bench/http_pages.py` compares our app against.

No middleware, no database, no templates, no cookies: whatever our app costs on top of these two
handlers is the price of our own code and libraries, not of Starlette and uvicorn.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

# About the size of our rendered home page (~2.5 KB) so both responses cost the same to send.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Technology licensing marketplace · bare</title>
  <link rel="stylesheet" href="/static/css/site.css">
</head>
<body>
  <a class="skip-link" href="#main">Skip to main content</a>
  <header class="site-header">
    <div class="container header-inner">
      <a class="brand" href="/">bare</a>
      <nav class="site-nav" aria-label="Main">
        <ul>
          <li><a href="/" aria-current="page">Home</a></li>
          <li><a href="/login">Log in</a></li>
          <li><a href="/register">Register</a></li>
        </ul>
      </nav>
      <nav class="language-nav" aria-label="Language">
        <ul>
          <li><a href="/language/en" lang="en" hreflang="en" aria-current="true">English</a></li>
          <li><a href="/language/zh" lang="zh" hreflang="zh">中文</a></li>
        </ul>
      </nav>
    </div>
  </header>

  <main id="main" class="container" tabindex="-1">
<section class="hero" aria-labelledby="hero-title">
  <h1 id="hero-title">Put research to work</h1>
  <p class="lead">A static page that stands in for a rendered one: same markup, no template
  engine, no translations, no CSRF token and no database behind it.</p>
  <p class="actions">
    <a class="button button-primary" href="/register">Register your organisation</a>
    <a class="button button-secondary" href="/login">Log in</a>
  </p>
</section>

<div class="cards">
  <section class="card" aria-labelledby="for-institutes">
    <h2 id="for-institutes">For research institutes</h2>
    <p>List your patents, software, know-how and materials, and reach enterprises looking
    for exactly what your laboratories have developed.</p>
  </section>
  <section class="card" aria-labelledby="for-enterprises">
    <h2 id="for-enterprises">For enterprises</h2>
    <p>Discover technology that is ready to license, make offers and agree terms with the
    institute directly.</p>
  </section>
  <section class="card" aria-labelledby="for-trust">
    <h2 id="for-trust">Verified and supervised</h2>
    <p>Administrators verify every organisation before it can trade and approve each trade,
    so you always know who is on the other side.</p>
  </section>
</div>
  </main>

  <footer class="site-footer">
    <div class="container">
      <p>bare: a baseline for benchmarks, nothing more.</p>
    </div>
  </footer>
</body>
</html>
"""


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def home(request: Request) -> Response:
    return HTMLResponse(PAGE)


app = Starlette(routes=[Route("/", home), Route("/healthz", healthz)])
