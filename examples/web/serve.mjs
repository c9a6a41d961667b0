#!/usr/bin/env node
// A tiny static server for the demo page, on the loopback interface only: a page from
// http://127.0.0.1 is a secure context, which navigator.gpu requires. `npm run demo:web`
// builds the page and starts it; PORT picks the port (default 8765, or any free one if
// that is taken).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.seq': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The file a URL path names under one of the mounts, or undefined. */
async function locateFile(mounts, urlPath) {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const rest = urlPath.slice(prefix.length) || 'index.html';
    if (rest.split('/').some((part) => part.startsWith('.'))) return undefined; // no dotfiles, no ..
    const file = resolve(dir, rest);
    if (!file.startsWith(resolve(dir) + sep)) return undefined;
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile()) return file;
    if (info?.isDirectory()) return locateFile([[prefix, dir]], `${urlPath.replace(/\/?$/, '/')}index.html`);
  }
  return undefined;
}

/**
 * Serves `root` at / and each of `mounts` (URL prefix → folder) on 127.0.0.1. Resolves to
 * the server and its origin once it listens; port 0 picks a free port.
 */
export async function startServer({ root = here, port = 0, mounts = {} } = {}) {
  const table = [...Object.entries(mounts).map(([prefix, dir]) => [prefix.replace(/\/?$/, '/'), dir]), ['/', root]];
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
      const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      const file = await locateFile(table, urlPath);
      if (!file) return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${urlPath}\n`);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch {
      res.writeHead(400).end();
    }
  });
  await new Promise((done, fail) => server.once('error', fail).listen(port, '127.0.0.1', done));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = Number(process.env.PORT ?? 8765);
  let started;
  try {
    started = await startServer({ port: wanted });
  } catch (error) {
    if (error.code !== 'EADDRINUSE' || process.env.PORT) throw error;
    started = await startServer({ port: 0 });
    console.log(`port ${wanted} is taken; using another`);
  }
  console.log(`seqc demo: ${started.origin}/  (open it in a browser with WebGPU; Ctrl-C stops the server)`);
  process.on('SIGINT', () => started.server.close(() => process.exit(0)));
}
