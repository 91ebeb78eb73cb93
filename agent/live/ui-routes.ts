// The dashboard's files, served at /ui by every agent from the repository (or the installed
// package): agent/live/ui/ and uPlot from node_modules/uplot/dist. No CDN: it works offline.
//
// Token: where the agent has an HTTP token, a browser opens `/ui?token=<http.token>` once; the
// agent checks it, sets it as an HttpOnly, SameSite=Strict cookie and redirects to /ui, so the
// token leaves the address bar and the history. The cookie authorises GET requests only (the
// dashboard only reads): a page on another site cannot make the browser write through it.

import { readFileSync, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { timingSafeEqual } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const tokenCookie = 'covey_token';

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** The dashboard's own files, under agent/live/ui/ (so that nothing else on disk is ever served). */
const ownFiles = ['index.html', 'dashboard.js', 'panels.js', 'map.js', 'charts.js', 'dashboard.css'];

/** Where the dashboard's files are: beside this module, or (from the bundle in dist/) under agent/live/ui. */
function uiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'ui'), join(here, '..', 'agent', 'live', 'ui')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (found === undefined) throw new Error(`the dashboard's files are missing (looked in ${candidates.join(', ')}); reinstall covey`);
  return found;
}

function uplotDir(): string {
  return dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

let assets: Map<string, Asset> | null = null;

/** Every servable file by its path under /ui/, read once. */
function loadAssets(): Map<string, Asset> {
  if (assets !== null) return assets;
  const out = new Map<string, Asset>();
  const dir = uiDir();
  for (const f of ownFiles) out.set(f, { type: types[f.split('.').pop()!], body: readFileSync(join(dir, f)) });
  const vendor = uplotDir();
  out.set('vendor/uPlot.iife.min.js', { type: types.js, body: readFileSync(join(vendor, 'uPlot.iife.min.js')) });
  out.set('vendor/uPlot.min.css', { type: types.css, body: readFileSync(join(vendor, 'uPlot.min.css')) });
  assets = out;
  return out;
}

/** The token the browser's cookie carries, if any. */
export function cookieToken(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === tokenCookie) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const page = (title: string, body: string): string =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font:15px system-ui;margin:3em;max-width:42em">${body}</body>`;

/**
 * Before the token check: `/ui?token=` logs a browser in, and a browser without the token gets a
 * page that says how to open the dashboard instead of a JSON 401. Returns true when it answered.
 */
export function uiLogin(req: IncomingMessage, res: ServerResponse, url: URL, token: string | undefined): boolean {
  if (url.pathname !== '/ui' && url.pathname !== '/ui/') return false;
  const given = url.searchParams.get('token');
  if (given !== null) {
    if (token !== undefined && !sameToken(given, token)) {
      sendText(res, 401, types.html, page('Covey: wrong token', '<h1>Wrong token</h1><p>The token in the address is not this agent\'s <code>http.token</code>. Open <code>/ui?token=&lt;http.token from the agent config&gt;</code>.</p>'));
      return true;
    }
    const cookie = token === undefined ? [] : [`${tokenCookie}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`];
    res.writeHead(303, { location: '/ui', 'set-cookie': cookie, 'content-length': 0 });
    res.end();
    return true;
  }
  if (token !== undefined && !sameToken(cookieToken(req), token) && req.headers.authorization === undefined) {
    sendText(res, 401, types.html, page('Covey: token needed', '<h1>This agent needs its token</h1><p>Open <code>/ui?token=&lt;http.token from the agent config&gt;</code> once; the browser keeps it in a cookie for this agent.</p>'));
    return true;
  }
  return false;
}

/** Serves /ui and /ui/<file>; returns false for any other path. */
export function serveUi(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const path = url.pathname;
  if (path !== '/ui' && !path.startsWith('/ui/')) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, 'application/json; charset=utf-8', JSON.stringify({ error: `${req.method} is not allowed on ${path}; use GET` }) + '\n');
    return true;
  }
  const name = path === '/ui' || path === '/ui/' ? 'index.html' : path.slice(4);
  const asset = loadAssets().get(name);
  if (asset === undefined) {
    sendText(res, 404, 'application/json; charset=utf-8', JSON.stringify({ error: `no such dashboard file: ${path}` }) + '\n');
    return true;
  }
  res.writeHead(200, {
    'content-type': asset.type,
    'content-length': asset.body.length,
    'cache-control': 'no-cache',
    // Only the agent's own scripts, styles and API: no inline script, nothing from elsewhere.
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
  return true;
}

function sendText(res: ServerResponse, status: number, type: string, text: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
