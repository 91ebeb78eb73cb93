import { createServer } from 'node:http';
import { connect } from 'node:net';
const server = createServer((req, res) => { req.resume(); req.on('end', () => setTimeout(() => res.end('late ok'), 4000)); });
server.requestTimeout = 2000; server.headersTimeout = 2000; server.connectionsCheckingInterval = 500;
server.listen(0, async () => {
  const port = server.address().port;
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'abc' }).then((r) => r.text()).catch((e) => 'ERR ' + e.message);
  console.log('complete request, slow response:', r, Date.now() - t0, 'ms');
  const s = connect(port, '127.0.0.1', () => { s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab'); });
  const t1 = Date.now(); let got = '';
  s.on('data', (d) => { got += d; }); s.on('close', () => { console.log('dripping body: closed after', Date.now() - t1, 'ms', JSON.stringify(got.slice(0, 40))); server.close(); });
});
