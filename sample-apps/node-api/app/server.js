'use strict';
// A small JSON API whose routes load their code and data only on first use,
// the way real services defer work: the cases that tracing must not miss.
const http = require('node:http');

const items = [];

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const routes = {
  'GET /health': () => [200, { ok: true }],
  'GET /catalog': () => [200, require('./lib/catalog').load()],
  'GET /report': () => [200, { table: require('./lib/report').render(items) }],
  'GET /version-check': (url) => [200, require('./lib/versions').check(url.searchParams.get('v') || '')],
  'GET /items': () => [200, items],
  'POST /items': async (url, req) => {
    let item;
    try {
      item = JSON.parse(await readBody(req));
    } catch {
      return [400, { error: 'body is not JSON' }];
    }
    if (typeof item.name !== 'string') return [422, { error: 'name must be a string' }];
    items.push({ id: items.length + 1, name: item.name });
    return [201, items[items.length - 1]];
  },
};

http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const handler = routes[`${req.method} ${url.pathname}`];
  if (!handler) return send(res, 404, { error: 'not found' });
  try {
    const [status, value] = await handler(url, req);
    send(res, status, value);
  } catch (err) {
    console.error(err);
    send(res, 500, { error: 'internal error' });
  }
}).listen(Number(process.env.PORT) || 3000, () => console.log('api listening'));
