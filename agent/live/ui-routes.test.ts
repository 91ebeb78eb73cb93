// The dashboard's files and its token rule over the real HTTP layer: a browser without the token
// gets a page saying how to open the dashboard; `/ui?token=` with the wrong token is refused and
// with the right one sets an HttpOnly, SameSite=Strict cookie and redirects; the cookie then
// reads (the page, /events, /status) but never writes; nothing outside the dashboard's files is served.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createHttpApi, type AgentApi } from '../http.ts';
import { silentLogger } from '../testing.ts';
import { LiveEvents } from './events.ts';
import { LiveRoutes } from './http-routes.ts';
import { TelemetryTap } from './telemetry-tap.ts';

const token = 'ui-test-token';

async function serve(withToken: boolean) {
  const routes = new LiveRoutes({ events: new LiveEvents(), tap: new TelemetryTap() });
  let writes = 0;
  const api = {
    registry: new Registry(), status: () => ({ swarm: 's' }), members: () => [], memberEvents: () => [], plugins: () => [], devices: () => [],
    readiness: () => ({ ready: true, reason: 'test' }), peers: () => ({}), voters: () => ({ epoch: 0, voters: [], self: null, replaceAfterMs: null }),
    submit: async () => { writes++; return { ok: true }; },
    changeVoters: async () => { writes++; return { ok: true }; },
  } as unknown as AgentApi;
  const server = createHttpApi(api, { token: withToken ? token : undefined, logger: silentLogger, live: routes });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, writes: () => writes,
    close: async () => { routes.closeAll(); server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

test('/ui with a token: an explaining page, a refused wrong token, a cookie for the right one that reads but never writes', async () => {
  const s = await serve(true);
  try {
    const bare = await fetch(`${s.url}/ui`);
    assert.equal(bare.status, 401);
    assert.match(bare.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await bare.text(), /Open <code>\/ui\?token=&lt;http\.token from the agent config&gt;<\/code> once/);

    const wrong = await fetch(`${s.url}/ui?token=nope`, { redirect: 'manual' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);

    const login = await fetch(`${s.url}/ui?token=${token}`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/ui');
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^covey_token=ui-test-token; HttpOnly; SameSite=Strict; Path=\/$/);
    const jar = { cookie: cookie.split(';')[0] };

    const page = await fetch(`${s.url}/ui`, { headers: jar });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/ui\/dashboard\.js"><\/script>/);
    const uplot = await fetch(`${s.url}/ui/vendor/uPlot.iife.min.js`, { headers: jar });
    assert.equal(uplot.status, 200);
    assert.match(await uplot.text(), /uPlot/);
    assert.equal((await fetch(`${s.url}/status`, { headers: jar })).status, 200);
    const events = await fetch(`${s.url}/events`, { headers: jar });
    assert.equal(events.status, 200);
    await events.body!.cancel();

    // A cookie never writes: a cross-site form could otherwise make the browser do it.
    const put = await fetch(`${s.url}/kv/x`, { method: 'PUT', headers: { ...jar, 'content-type': 'application/json' }, body: '{"value":"v"}' });
    assert.equal(put.status, 401);
    assert.equal(s.writes(), 0);
    assert.equal((await fetch(`${s.url}/voters`, { headers: jar })).status, 200);
    const voters = await fetch(`${s.url}/voters`, { method: 'POST', headers: { ...jar, 'content-type': 'application/json' }, body: JSON.stringify({ op: 'remove', peers: ['12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh'] }) });
    assert.equal(voters.status, 401, 'nor changes the voter set');
    assert.equal(s.writes(), 0);
    // A bearer token still does.
    const bearer = await fetch(`${s.url}/kv/x`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"value":"v"}' });
    assert.equal(bearer.status, 200);
    assert.equal(s.writes(), 1);
  } finally {
    await s.close();
  }
});

test('/ui without a token: served as is; only the dashboard\'s own files, GET only', async () => {
  const s = await serve(false);
  try {
    assert.equal((await fetch(`${s.url}/ui`)).status, 200);
    const login = await fetch(`${s.url}/ui?token=anything`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('set-cookie'), null, 'no token to keep');
    for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/ui-routes.ts', '/ui/vendor/uPlot.cjs.js']) {
      const r = await fetch(`${s.url}${path}`);
      assert.equal(r.status, 404, path);
    }
    assert.equal((await fetch(`${s.url}/ui/dashboard.css`, { method: 'POST' })).status, 405);
    const css = await fetch(`${s.url}/ui/dashboard.css`);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  } finally {
    await s.close();
  }
});
