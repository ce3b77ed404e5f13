// A pass-through HTTP proxy between the task object and the real media runner, used only by the
// media scenario: it forwards every request unchanged, except that on an events stream it appends
// ` @<epoch ms>` to each progress line's message as the line passes. A subscriber that sees that
// message can then measure runner-line -> subscriber latency without any change to the runner.
import http from 'node:http';

const now = () => performance.timeOrigin + performance.now();

export function startStampProxy(target) {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        const events = /\/events(\?|$)/.test(req.url ?? '');
        const headers = { ...up.headers };
        if (events) delete headers['content-length'];
        res.writeHead(up.statusCode ?? 502, headers);
        if (!events) {
          up.pipe(res);
          return;
        }
        let buffer = '';
        up.setEncoding('utf8');
        up.on('data', (chunk) => {
          buffer += chunk;
          let nl = buffer.indexOf('\n');
          let text = '';
          while (nl >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            nl = buffer.indexOf('\n');
            text += `${stamp(line)}\n`;
          }
          if (text) res.write(text);
        });
        up.on('end', () => res.end(buffer));
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
    res.on('close', () => out.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

function stamp(line) {
  if (!line.includes('"progress"')) return line;
  try {
    const e = JSON.parse(line);
    if (e.type !== 'progress') return line;
    e.message = `${e.message ?? ''} @${now().toFixed(3)}`;
    return JSON.stringify(e);
  } catch {
    return line;
  }
}
