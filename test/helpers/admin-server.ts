/**
 * TEMPORARY stub of the admin server (the `admin` and `events` branches are not merged yet):
 * replaced by startAdmin + EventStream before this branch is handed over.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveDashboard } from '../../src/admin/dashboard.js';
import type { Deployment } from '../../src/deploy/deployment.js';
import { EVENTS } from '../../src/events/events.js';

export interface AdminUnderTest {
  url: string;
  close(): Promise<void>;
}

export async function startAdminUnderTest(
  d: Deployment,
  _dataDir: string,
  token: string,
): Promise<AdminUnderTest> {
  const subs = new Set<ServerResponse>();
  let id = 0;
  for (const name of Object.values(EVENTS)) {
    d.host.on(name, (p: unknown) => {
      const frame = `id: ${++id}\nevent: ${name}\ndata: ${JSON.stringify(p)}\n\n`;
      for (const r of subs) r.write(frame);
    });
  }
  const server = createServer(async (req, res) => {
    if (serveDashboard(req, res)) return;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`)
      return send(401, {
        error: { code: 'CONTROL_UNAUTHORIZED', message: 'missing or wrong admin token' },
      });
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    try {
      if (parts[1] === 'events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(': hi\n\n');
        subs.add(res);
        req.on('close', () => subs.delete(res));
        return;
      }
      if (req.method === 'GET' && parts[1] === 'audit') return send(200, { entries: [] });
      if (req.method === 'GET' && parts.length === 2) return send(200, { plugins: d.status() });
      if (req.method === 'GET' && parts.length === 3) {
        const p = d.status().find((x) => x.name === parts[2]);
        return p
          ? send(200, { plugin: p })
          : send(404, { error: { code: 'UNKNOWN_PLUGIN', message: 'no' } });
      }
      if (req.method === 'POST' && parts[3] === 'reload')
        return send(200, await d.reload(parts[2] ?? ''));
      if (req.method === 'POST' && parts[3] === 'rollback')
        return send(200, await d.rollback(parts[2] ?? ''));
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return send(409, { error: { code: err.code, message: err.message } });
    }
    send(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
