import { createServer } from 'node:http';
import { pino } from 'pino';
import { attachStreamServer } from '../agent/stream/server.ts';
import { StreamClient } from '../agent/stream/client.ts';
import { tokenProblem } from '../agent/http.ts';
console.log('imported');
const server = createServer((_q, r) => r.writeHead(404).end());
attachStreamServer(server, { submit: async () => ({ ok: true }), authorize: (req) => tokenProblem(req, undefined), logger: pino({ level: 'debug' }) });
server.listen(0, '127.0.0.1', async () => {
  const port = (server.address() as any).port;
  console.log('listening', port);
  const c = await StreamClient.connect(`http://127.0.0.1:${port}`);
  console.log('connected');
  console.log(await c.get('a'));
  process.exit(0);
});
