// The workerd command line and configuration Miniflare builds for the local engine, read in a
// short-lived process so that the engine's long-lived one never loads Miniflare (scripts/local-engine.mjs,
// "lean" host). Reads Miniflare's options as JSON on stdin, lets Miniflare assemble everything it would
// run (services, disk paths, sockets, the bundle, bindings), and where Miniflare spawns workerd
// writes to stdout instead one JSON line, { command, args, env } (env: what Miniflare adds to the
// environment), and after it the binary Cap'n Proto configuration workerd reads on its stdin; then
// ends itself with SIGKILL so that no exit hook of Miniflare's removes what the configuration names.
// Nothing is written to disk: the configuration holds the Worker's secrets.
import childProcess from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const options = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const realSpawn = childProcess.spawn;
// Miniflare's runtime calls child_process.spawn(workerd, ['serve', '--binary', ...], { env }) and writes
// the configuration to the child's stdin; everything else it spawns is spawned as usual.
childProcess.spawn = (...spawnArgs) => {
  const [command, args, spawnOptions] = spawnArgs;
  if (!Array.isArray(args) || args[0] !== 'serve' || !args.includes('--binary')) return realSpawn(...spawnArgs);
  const env = {};
  for (const [k, v] of Object.entries(spawnOptions?.env ?? {})) if (process.env[k] !== v) env[k] = v;
  const config = [];
  const fake = new EventEmitter();
  fake.stdin = new Writable({
    write(chunk, _enc, cb) {
      config.push(chunk);
      cb();
    },
    final(cb) {
      const head = Buffer.from(`${JSON.stringify({ command, args, env })}\n`);
      process.stdout.write(Buffer.concat([head, ...config]), () => process.kill(process.pid, 'SIGKILL'));
      cb();
    },
  });
  fake.stdout = new PassThrough();
  fake.stderr = new PassThrough();
  fake.stdio = [fake.stdin, fake.stdout, fake.stderr, new PassThrough()];
  fake.kill = () => true;
  return fake;
};

const { convertV4MiniflareOptions, Log, LogLevel, Miniflare } = await import('miniflare');
const mf = new Miniflare(convertV4MiniflareOptions({ ...options, log: new Log(LogLevel.WARN) }));
mf.ready.catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
