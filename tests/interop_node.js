// Interop server: a plain Node.js `http` SSE server, as JavaScript back ends write one.
//
// No npm packages: node:http, node:zlib and node:url only. tests/test_interop_servers.py
// runs `node tests/interop_node.js`, reads the port from the first line of stdout, and
// sends SIGTERM at teardown. It serves the endpoints tests/interop_aiohttp.py serves:
//
//   GET /events [n]          n JSON events, "customer" (odd i) and "product" (even i), id i
//   GET /ping [count, interval]
//                            "before", `count` ": ping" keep-alive comments written by a
//                            setInterval timer, "after", end
//   GET|POST /resume [total, per, drop]
//                            `per` "item" events per response, resuming after the
//                            Last-Event-ID header; then res.end() (drop=1: the socket is
//                            destroyed mid-body, no terminating chunk); 204 once `total`
//                            were sent. Each event's JSON data: i, last_event_id, method,
//                            and the POST's JSON body as echo
//   GET /gz/events [n, hold] /events through zlib.createGzip / createDeflate as
//                            Accept-Encoding asks, flushed after every event; hold=1 keeps
//                            the stream open after the events until the client leaves
//
// Lines end with "\n" (the Python servers send "\r\n").
'use strict';

const http = require('node:http');
const zlib = require('node:zlib');

function customer(i) {
  return { id: i, name: `customer ${i}`, note: 'naïve ☃' };
}

function product(i) {
  return { sku: `P-${i}`, price: i * 1.5 };
}

function typedEvent(i) {
  return i % 2 ? ['customer', customer(i)] : ['product', product(i)];
}

// One event in the wire format; every line of the data gets its own "data:" field.
function frame({ id, event, data }) {
  let text = '';
  if (id !== undefined) text += `id: ${id}\n`;
  if (event !== undefined) text += `event: ${event}\n`;
  for (const line of String(data).split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return text + '\n';
}

function startStream(res, extraHeaders = {}) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    ...extraHeaders,
  });
  res.flushHeaders();
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function events(req, res, query) {
  const n = Number(query.get('n') ?? 5);
  startStream(res);
  for (let i = 1; i <= n; i++) {
    const [event, data] = typedEvent(i);
    res.write(frame({ id: String(i), event, data: JSON.stringify(data) }));
  }
  res.end();
}

function ping(req, res, query) {
  const count = Number(query.get('count') ?? 3);
  const interval = Number(query.get('interval') ?? 0.02) * 1000;
  startStream(res);
  res.write(frame({ id: 'p1', data: 'before' }));
  let sent = 0;
  const timer = setInterval(() => {
    res.write(': ping\n\n');
    sent += 1;
    if (sent >= count) {
      clearInterval(timer);
      res.end(frame({ id: 'p2', data: 'after' }));
    }
  }, interval);
  req.on('close', () => clearInterval(timer));
}

async function resume(req, res, query) {
  const total = Number(query.get('total') ?? 9);
  const per = Number(query.get('per') ?? 3);
  const drop = query.get('drop') === '1';
  const body = req.method === 'POST' ? await readJson(req) : null;
  const lastId = req.headers['last-event-id'] ?? null;
  const start = lastId ? Number(lastId) + 1 : 1;
  if (start > total) {
    res.writeHead(204);
    res.end();
    return;
  }
  startStream(res);
  const end = Math.min(start + per, total + 1);
  for (let i = start; i < end; i++) {
    const data = JSON.stringify({ i, last_event_id: lastId, method: req.method, echo: body });
    const text = frame({ id: String(i), event: 'item', data });
    if (drop && i === end - 1) {
      res.write(text, () => res.socket.destroy()); // once it is on the wire: cut it off
      return;
    }
    res.write(text);
  }
  res.end();
}

function gzEvents(req, res, query) {
  const n = Number(query.get('n') ?? 5);
  const hold = query.get('hold') === '1';
  const accept = req.headers['accept-encoding'] ?? '';
  const coding = /\bgzip\b/.test(accept) ? 'gzip' : /\bdeflate\b/.test(accept) ? 'deflate' : null;
  if (coding === null) return events(req, res, query);
  const encoder = coding === 'gzip' ? zlib.createGzip() : zlib.createDeflate();
  startStream(res, { 'Content-Encoding': coding, Vary: 'Accept-Encoding' });
  encoder.pipe(res);
  req.on('close', () => encoder.destroy());
  let i = 0;
  const next = () => {
    i += 1;
    if (i > n) {
      if (!hold) encoder.end();
      return;
    }
    const [event, data] = typedEvent(i);
    encoder.write(frame({ id: String(i), event, data: JSON.stringify(data) }));
    encoder.flush(zlib.constants.Z_SYNC_FLUSH, next); // each event leaves now, not at the end
  };
  next();
}

const routes = {
  '/events': events,
  '/ping': ping,
  '/resume': resume,
  '/gz/events': gzEvents,
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const route = routes[url.pathname];
  if (route === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Not Found');
    return;
  }
  Promise.resolve(route(req, res, url.searchParams)).catch((err) => {
    console.error(err);
    res.destroy();
  });
});

server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port); // the parent waits for this line
});

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
