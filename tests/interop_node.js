// Interop server: a plain Node.js `http` SSE server, as JavaScript back ends write one.
//
// No npm packages: node:http and node:zlib only. tests/test_interop.py runs
// `node tests/interop_node.js`, reads the port from the first line of stdout, and sends
// SIGTERM at teardown. It serves the endpoints of tests/interop_contract.py (see there for
// the contract; the data functions below repeat that file's): lines end with "\n" (the
// Python servers send "\r\n"), keep-alive pings are ": ping" comments written by a
// setInterval timer, compressed streams go through zlib.createGzip / createDeflate as
// Accept-Encoding asks and are flushed after every event, and /resume's drop=1 destroys
// the socket mid-body (no terminating chunk).
'use strict';

const http = require('node:http');
const zlib = require('node:zlib');

const SEPARATORS = { crlf: '\r\n', lf: '\n', cr: '\r' };
const CHAT_WORDS = ['Hello', ' from', ' a', ' real', ' server', '.'];
const LOGGED_HEADERS = ['accept', 'cache-control', 'user-agent', 'content-type'];

function eventData(i) {
  return `event ${i}, line one\nline two: naïve ☃ \u2028 still two\n\nline four ${i}`;
}

function eventType(i) {
  return i % 2 ? 'tick' : undefined;
}

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
function frame({ id, event, data, retry }, sep = '\n') {
  let text = '';
  if (id !== undefined) text += `id: ${id}${sep}`;
  if (event !== undefined) text += `event: ${event}${sep}`;
  if (retry !== undefined) text += `retry: ${retry}${sep}`;
  if (data !== undefined) {
    for (const line of String(data).split(/\r\n|\r|\n/)) text += `data: ${line}${sep}`;
  }
  return text + sep;
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

// Per-key request logs of /resume, /flaky and /endless, and the /log requests waiting
// for a key's log to grow.
const logs = new Map();
const waiters = new Map();

function record(key, entry) {
  const log = logs.get(key) ?? [];
  logs.set(key, log);
  log.push(entry);
  const waiting = waiters.get(key) ?? [];
  waiters.delete(key);
  for (const wake of waiting) wake();
  return log;
}

// The frames of /events (typed=false) or /typed/events (typed=true).
function eventFrames(query, typed) {
  const n = Number(query.get('n') ?? 5);
  const sep = SEPARATORS[query.get('sep') ?? 'lf'];
  const frames = [];
  for (let i = 1; i <= n; i++) {
    if (typed) {
      const [event, data] = typedEvent(i);
      frames.push(frame({ id: String(i), event, data: JSON.stringify(data) }, sep));
    } else {
      frames.push(frame({ id: String(i), event: eventType(i), data: eventData(i) }, sep));
    }
  }
  return frames;
}

function sendEvents(req, res, query, typed) {
  startStream(res);
  for (const text of eventFrames(query, typed)) res.write(text);
  if (query.get('hold') !== '1') res.end(); // else open until the client leaves
}

function gzEvents(req, res, query, typed) {
  const accept = req.headers['accept-encoding'] ?? '';
  const coding = /\bgzip\b/.test(accept) ? 'gzip' : /\bdeflate\b/.test(accept) ? 'deflate' : null;
  if (coding === null) return sendEvents(req, res, query, typed);
  const hold = query.get('hold') === '1';
  const encoder = coding === 'gzip' ? zlib.createGzip() : zlib.createDeflate();
  startStream(res, { 'Content-Encoding': coding, Vary: 'Accept-Encoding' });
  encoder.pipe(res);
  req.on('close', () => encoder.destroy());
  const frames = eventFrames(query, typed);
  const next = () => {
    const text = frames.shift();
    if (text === undefined) {
      if (!hold) encoder.end();
      return;
    }
    encoder.write(text);
    encoder.flush(zlib.constants.Z_SYNC_FLUSH, next); // each event leaves now, not at the end
  };
  next();
}

function retry(req, res, query) {
  const ms = Number(query.get('ms') ?? 1234);
  startStream(res);
  res.write(frame({ retry: ms }));
  res.end(frame({ id: 'r1', data: 'after retry' }));
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
  const key = query.get('key');
  const total = Number(query.get('total') ?? 9);
  const per = Number(query.get('per') ?? 3);
  const retryMs = query.get('retry');
  const drop = query.get('drop') === '1';
  const body = req.method === 'POST' ? await readJson(req) : null;
  const lastId = req.headers['last-event-id'] ?? null;
  const entry = { method: req.method, last_event_id: lastId, body };
  for (const name of LOGGED_HEADERS) entry[name] = req.headers[name] ?? null;
  record(key, entry);
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
    const retry = retryMs && i === start ? Number(retryMs) : undefined;
    const text = frame({ id: String(i), event: 'item', data, retry });
    if (drop && i === end - 1) {
      res.write(text, () => res.socket.destroy()); // once it is on the wire: cut it off
      return;
    }
    res.write(text);
  }
  res.end();
}

function endless(req, res, query) {
  const key = query.get('key');
  record(key, { event: 'connected' });
  startStream(res);
  let sent = 0;
  const timer = setInterval(() => {
    sent += 1;
    res.write(frame({ id: String(sent), data: `endless ${sent}` }));
  }, 5);
  res.on('close', () => {
    clearInterval(timer);
    record(key, { event: 'closed', sent });
  });
}

async function chat(req, res) {
  const payload = await readJson(req);
  const words = CHAT_WORDS.slice(0, payload.max_tokens ?? CHAT_WORDS.length);
  startStream(res);
  words.forEach((word, index) => {
    const chunk = { index, delta: word, prompt: payload.prompt };
    res.write(frame({ id: `tok-${index}`, event: 'token', data: JSON.stringify(chunk) }));
  });
  const done = {
    finish_reason: 'stop',
    tokens: words.length,
    content_type: req.headers['content-type'] ?? null,
  };
  res.end(frame({ event: 'done', data: JSON.stringify(done) }));
}

function flaky(req, res, query) {
  const key = query.get('key');
  const failures = Number(query.get('failures') ?? 2);
  const status = Number(query.get('status') ?? 503);
  const log = record(key, { method: req.method });
  if (log.length <= failures) {
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Retry-After': '0' });
    res.end('try again');
    return;
  }
  startStream(res);
  res.end(frame({ id: 'f1', data: 'recovered' }));
}

function log(req, res, query) {
  const key = query.get('key');
  const wanted = Number(query.get('min') ?? 0);
  const answer = () => {
    if ((logs.get(key) ?? []).length < wanted) {
      waiters.set(key, [...(waiters.get(key) ?? []), answer]);
      return;
    }
    startStream(res);
    res.end(frame({ event: 'log', data: JSON.stringify(logs.get(key) ?? []) }));
  };
  answer();
}

function nocontent(req, res) {
  res.writeHead(204);
  res.end();
}

function text(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/plain' });
  res.end(body);
}

const routes = {
  'GET /events': (req, res, query) => sendEvents(req, res, query, false),
  'GET /typed/events': (req, res, query) => sendEvents(req, res, query, true),
  'GET /gz/events': (req, res, query) => gzEvents(req, res, query, false),
  'GET /gz/typed/events': (req, res, query) => gzEvents(req, res, query, true),
  'GET /retry': retry,
  'GET /ping': ping,
  'GET /resume': resume,
  'POST /resume': resume,
  'GET /endless': endless,
  'POST /chat': chat,
  'GET /flaky': flaky,
  'GET /log': log,
  'GET /nocontent': nocontent,
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const status = /^\/status\/(\d+)$/.exec(url.pathname);
  if (req.method === 'GET' && status !== null) {
    const code = Number(status[1]);
    text(res, code, `status ${code} from node`);
    return;
  }
  const route = routes[`${req.method} ${url.pathname}`];
  if (route === undefined) {
    text(res, 404, 'Not Found');
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
